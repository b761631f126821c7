import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { assertConfirmed } from '../../auth/passwords.js'
import { authenticated } from '../../plugins/auth.js'
import { normalizeToNfc } from '../../plugins/hardening.js'
import { bearerErrors, ErrorResponse } from '../../schemas/common.js'

const PasswordBody = Type.Object(
  {
    current_password: Type.String({ minLength: 1, maxLength: 255, examples: ['correct horse battery staple'] }),
    password: Type.String({ minLength: 8, maxLength: 255, examples: ['a new and longer passphrase'] }),
    password_confirmation: Type.String({ maxLength: 255, examples: ['a new and longer passphrase'] })
  },
  { additionalProperties: false }
)

const password: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.put('/api/user/password', {
    schema: {
      tags: ['seed API'],
      summary: 'Change the password; every other session is revoked',
      security: [{ bearer: [] }],
      body: PasswordBody,
      response: { 200: Type.Object({ status: Type.Literal('success'), message: Type.String() }), 400: ErrorResponse, 429: ErrorResponse, ...bearerErrors }
    },
    preValidation: normalizeToNfc('current_password', 'password', 'password_confirmation'),
    // Authenticated first: the limit is per user.
    preHandler: [fastify.authenticate, ...fastify.limits.password],
    handler: async (request) => {
      const { current_password, password, password_confirmation } = request.body
      assertConfirmed(password, password_confirmation)
      const claims = authenticated(request)
      await fastify.auth.sessions.changePassword(claims, current_password, password)
      fastify.securityEvent(request, 'password.changed', { user_id: claims.sub, session_id: claims.sid })
      return { status: 'success' as const, message: 'password changed; every other session is revoked' }
    }
  })
}

export default password
