import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ServiceError } from '../../errors.js'
import { bearerErrors, TokenResponse } from '../../schemas/common.js'

const refresh: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.route({
    method: ['GET', 'POST'],
    url: '/api/refresh',
    schema: {
      tags: ['seed API'],
      summary: 'A new token in the same session; the presented token is revoked at once',
      security: [{ bearer: [] }],
      response: { 200: TokenResponse, ...bearerErrors }
    },
    // Signature and claims only: the atomic rotation decides whether the token may still be refreshed.
    preHandler: fastify.verifyBearer,
    handler: async (request) => {
      const { token, claims } = request.auth!
      const ids = { user_id: claims.sub, session_id: claims.sid }
      try {
        const { response, repeated } = await fastify.sessions.refresh(token, claims)
        fastify.securityEvent(request, repeated ? 'token.refresh_repeated' : 'token.refreshed', ids)
        return response
      } catch (error) {
        if (error instanceof ServiceError && error.code === 'TOKEN_REUSED') fastify.securityEvent(request, 'token.reuse_detected', ids)
        throw error
      }
    }
  })
}

export default refresh
