import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { authenticateClient } from './client-auth.js'
import { ClientAuthFields, oauthErrors, TokenParameter } from './schemas.js'

/**
 * RFC 7009. 200 for an unknown, invalid or expired token (nothing to revoke). A client token may be
 * revoked only by its own client (§2.1); a user token by any registered client, and revoking it ends
 * its session, as logout does (a user token is also what refreshes it).
 */
const revoke: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/oauth/revoke', {
    schema: {
      tags: ['oauth'],
      summary: 'Token revocation (RFC 7009)',
      consumes: ['application/x-www-form-urlencoded'],
      body: Type.Object({ ...TokenParameter, ...ClientAuthFields }),
      response: { 200: Type.Null(), ...oauthErrors }
    },
    handler: async (request, reply) => {
      const client = await authenticateClient(fastify, request)
      const revoked = await fastify.auth.clientTokens.revoke(request.body.token, client)
      if (revoked.kind === 'client') fastify.securityEvent(request, 'token.revoked', { client_id: client.client_id })
      if (revoked.kind === 'user') fastify.securityEvent(request, 'token.revoked', { client_id: client.client_id, user_id: revoked.sub, session_id: revoked.sid })
      return reply.code(200).send(null)
    }
  })
}

export default revoke
