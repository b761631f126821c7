import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import type { IssuedUnder } from '../../auth/client-tokens.js'
import { OAuthError } from '../../errors.js'
import { authenticateClient } from './client-auth.js'
import { ClientAuthFields, oauthErrors } from './schemas.js'

const TokenBody = Type.Object({
  grant_type: Type.String({ minLength: 1, maxLength: 200, examples: ['client_credentials'] }),
  scope: Type.Optional(Type.String({ maxLength: 2000, examples: ['orders:read'] })),
  resource: Type.Optional(Type.String({ minLength: 1, maxLength: 2000, examples: ['https://orders.example.com'] })),
  ...ClientAuthFields
})

/** RFC 6749 §4.4: the client-credentials grant, tokens in the RFC 9068 profile. */
const token: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/oauth/token', {
    schema: {
      tags: ['oauth'],
      summary: 'Client-credentials grant (RFC 6749 §4.4); client_secret_basic or client_secret_post',
      consumes: ['application/x-www-form-urlencoded'],
      body: TokenBody,
      response: {
        200: Type.Object({ access_token: Type.String(), token_type: Type.Literal('Bearer'), expires_in: Type.Integer(), scope: Type.String() }),
        ...oauthErrors
      }
    },
    handler: async (request, reply) => {
      // The client's epoch is kept in the round trip of its authentication: one round trip per grant.
      const now = fastify.auth.clock.now()
      let epoch: Promise<IssuedUnder> | undefined
      const client = await authenticateClient(fastify, request, { grant: true, alongside: (clientId) => (epoch = fastify.auth.clientTokens.keepEpoch(clientId, now)) })
      const { grant_type, scope, resource } = request.body
      if (grant_type !== 'client_credentials') throw new OAuthError(400, 'unsupported_grant_type', 'only client_credentials is supported')
      // Authenticated: the client's epoch was kept alongside (client-auth.ts).
      const grant = await fastify.auth.clientTokens.issue(client, { scope, resource }, { at: now, issuedUnder: await epoch! })
      fastify.securityEvent(request, 'client.token_issued', { client_id: client.client_id, scope: grant.scope })
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
      return grant
    }
  })
}

export default token
