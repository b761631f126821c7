import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ServiceError, StoreUnavailableError } from '../../errors.js'
import { presentedToken } from '../../plugins/auth.js'
import { headNotAllowed } from '../../plugins/hardening.js'
import { bearerErrors, ErrorResponse, TokenResponse } from '../../schemas/common.js'

const refresh: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.route({
    method: ['GET', 'POST'],
    url: '/api/refresh',
    // HEAD must not rotate: see headNotAllowed.
    exposeHeadRoute: false,
    schema: {
      tags: ['seed API'],
      summary: 'A new token in the same session; the presented token is revoked at once',
      security: [{ bearer: [] }],
      // 400: the Authorization header twice.
      response: { 200: TokenResponse, 400: ErrorResponse, ...bearerErrors }
    },
    // No authenticate preHandler: the atomic rotation itself decides whether the token may still be refreshed.
    handler: async (request) => {
      const presented = presentedToken(request)
      // A bound token (DPoP): a proof by its key, checked before anything is written; its child is bound alike.
      const result = await fastify.auth.sessions.rotate(presented.token, (claims) => fastify.proveBinding(request, presented, claims))
      const ids = { user_id: result.claims.sub, session_id: result.claims.sid }
      switch (result.outcome) {
        case 'rotated':
        case 'repeated':
          fastify.securityEvent(request, result.outcome === 'repeated' ? 'token.refresh_repeated' : 'token.refreshed', ids)
          return result.response
        case 'reused':
          fastify.securityEvent(request, 'token.reuse_detected', ids)
          // Detected and reported; the session's end is not yet on enough replicas: 503, as for any such write.
          if (!result.acknowledged) throw new StoreUnavailableError('revocation')
          throw new ServiceError('TOKEN_REUSED')
        case 'revoked':
          throw new ServiceError('TOKEN_REVOKED')
      }
    }
  })
  fastify.head('/api/refresh', headNotAllowed)
}

export default refresh
