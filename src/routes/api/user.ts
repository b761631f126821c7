import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ServiceError } from '../../errors.js'
import Type from 'typebox'
import { authenticated, presentedToken } from '../../plugins/auth.js'
import { normalizeToNfc } from '../../plugins/hardening.js'
import { bearerErrors, ErrorResponse, User } from '../../schemas/common.js'

const CloseBody = Type.Object(
  { current_password: Type.String({ minLength: 1, maxLength: 255, examples: ['correct horse battery staple'] }) },
  { additionalProperties: false }
)

const user: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/api/user', {
    schema: {
      tags: ['seed API'],
      summary: 'The user the token belongs to',
      security: [{ bearer: [] }],
      response: { 200: User, ...bearerErrors }
    },
    // fastify.authenticate, with the user's record read alongside the token's check: a cached record's
    // version rides the check's round trip (accounts.ts).
    handler: async (request) => {
      const presented = presentedToken(request)
      const { claims, along: found } = await fastify.auth.verifier.verifyUserWith(presented.token, (claims) => fastify.auth.accounts.find(claims.sub))
      await fastify.proveBinding(request, presented, claims)
      request.auth = { token: presented.token, claims, ending: false }
      if (found === undefined) throw new ServiceError('TOKEN_INVALID', 'the token belongs to no user')
      return found
    }
  })

  fastify.delete('/api/user', {
    schema: {
      tags: ['accounts'],
      summary: 'Close the account: every session ends at once, and the email may register again',
      security: [{ bearer: [] }],
      body: CloseBody,
      response: { 204: Type.Null({ description: 'The account is closed' }), 400: ErrorResponse, 429: ErrorResponse, ...bearerErrors }
    },
    preValidation: normalizeToNfc('current_password'),
    // Authenticated first: the limit is per user, as for a password change.
    preHandler: [fastify.authenticate, ...fastify.limits.password],
    handler: async (request, reply) => {
      const claims = authenticated(request)
      await fastify.auth.accounts.close(claims.sub, request.body.current_password)
      fastify.securityEvent(request, 'account.deleted', { user_id: claims.sub, session_id: claims.sid })
      return reply.code(204).send(null)
    }
  })
}

export default user
