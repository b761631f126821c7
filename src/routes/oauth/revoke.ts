import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { OAuthError, ServiceError } from '../../errors.js'
import type { VerifiedToken } from '../../plugins/tokens.js'
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
      const client = await authenticateClient(request, fastify.clients)
      let verified: VerifiedToken
      try {
        verified = fastify.tokens.verifyToken(request.body.token)
      } catch (error) {
        if (error instanceof ServiceError && error.statusCode === 401) return reply.code(200).send(null)
        throw error
      }
      if (verified.kind === 'client') {
        if (verified.claims.client_id !== client.client_id) throw new OAuthError(400, 'unauthorized_client', 'the token was issued to another client')
        await fastify.revocations.revokeClientToken(verified.claims)
        fastify.securityEvent(request, 'token.revoked', { client_id: client.client_id })
      } else {
        await fastify.revocations.endSession(verified.claims)
        fastify.securityEvent(request, 'token.revoked', { client_id: client.client_id, user_id: verified.claims.sub, session_id: verified.claims.sid })
      }
      return reply.code(200).send(null)
    }
  })
}

export default revoke
