import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
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
      return fastify.sessions.refresh(token, claims)
    }
  })
}

export default refresh
