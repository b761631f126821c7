import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ServiceError } from '../../errors.js'
import { assertConfirmed, hashPassword, verifyPassword } from '../../passwords.js'
import { bearerErrors, ErrorResponse } from '../../schemas/common.js'

const PasswordBody = Type.Object(
  {
    current_password: Type.String({ minLength: 1, maxLength: 255 }),
    password: Type.String({ minLength: 8, maxLength: 255 }),
    password_confirmation: Type.String({ maxLength: 255 })
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
    // Authenticated first: the limit is per user.
    preHandler: [fastify.authenticate, ...fastify.limits.password],
    handler: async (request) => {
      const { current_password, password, password_confirmation } = request.body
      assertConfirmed(password, password_confirmation)
      const { sub, sid } = request.auth!.claims
      const hash = await fastify.users.passwordHashOf(sub)
      if (!(await verifyPassword(hash, current_password))) {
        throw new ServiceError('VALIDATION_FAILED', 'body/current_password is not the current password')
      }
      const newHash = await hashPassword(password)
      // Sessions first: should the update fail, the other sessions are gone and the old password
      // still stands, which is safe; the other order could leave an attacker's session alive.
      await fastify.revocations.endSessions(sub, { except: sid })
      if (!(await fastify.users.updatePassword(sub, newHash))) throw new ServiceError('TOKEN_INVALID', 'the token belongs to no user')
      fastify.securityEvent(request, 'password.changed', { user_id: sub, session_id: sid })
      return { status: 'success' as const, message: 'password changed; every other session is revoked' }
    }
  })
}

export default password
