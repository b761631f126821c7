import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import type { IssuedUnder } from '../../auth/client-tokens.js'
import { ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT } from '../../auth/token-exchange.js'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { DpopNonceRequired } from '../../auth/dpop.js'
import { OAuthError, ServiceError } from '../../errors.js'
import { dpopHeader, proofUrl } from '../../plugins/auth.js'
import { authenticateClient } from './client-auth.js'
import { ClientAuthFields, oauthErrors } from './schemas.js'

const TokenBody = Type.Object({
  grant_type: Type.String({ minLength: 1, maxLength: 200, examples: ['client_credentials'] }),
  scope: Type.Optional(Type.String({ maxLength: 2000, examples: ['orders:read'] })),
  resource: Type.Optional(Type.String({ minLength: 1, maxLength: 2000, examples: ['https://orders.example.com'] })),
  // Token exchange (RFC 8693 §2.1).
  subject_token: Type.Optional(Type.String({ maxLength: 16384 })),
  subject_token_type: Type.Optional(Type.String({ maxLength: 200, examples: [ACCESS_TOKEN_TYPE] })),
  requested_token_type: Type.Optional(Type.String({ maxLength: 200 })),
  audience: Type.Optional(Type.String({ minLength: 1, maxLength: 2000, examples: ['https://payments.example.com'] })),
  actor_token: Type.Optional(Type.String({ maxLength: 16384 })),
  actor_token_type: Type.Optional(Type.String({ maxLength: 200 })),
  ...ClientAuthFields
})

const GRANT_TYPES = ['client_credentials', TOKEN_EXCHANGE_GRANT]

/**
 * RFC 9449 §5: with a DPoP proof for this endpoint, the token is bound to the proof's key; a proof that fails is
 * 400 `invalid_dpop_proof`, in the endpoint's RFC 6749 §5.2 form, and one without the nonce DPOP_NONCE requires is
 * 400 `use_dpop_nonce` with the nonce in `DPoP-Nonce` (§8).
 */
async function dpopBinding(fastify: FastifyInstance, request: FastifyRequest): Promise<{ jkt: string } | undefined> {
  try {
    const proof = dpopHeader(request)
    if (proof === undefined) return undefined
    return { jkt: await fastify.auth.dpopProofs.check({ proof, method: request.method, url: proofUrl(request, fastify.config.ISSUER) }) }
  } catch (error) {
    if (error instanceof DpopNonceRequired) throw new OAuthError(400, 'use_dpop_nonce', error.message, { 'dpop-nonce': error.nonce })
    if (error instanceof ServiceError && error.code === 'DPOP_PROOF_INVALID') throw new OAuthError(400, 'invalid_dpop_proof', error.message)
    throw error
  }
}

/**
 * RFC 6749 §4.4: the client-credentials grant, tokens in the RFC 9068 profile; and RFC 8693 token exchange,
 * whose delegated tokens act for the subject token's subject and die with it (auth/token-exchange.ts).
 */
const token: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/oauth/token', {
    schema: {
      tags: ['oauth'],
      summary: 'Client-credentials grant (RFC 6749 §4.4) and token exchange (RFC 8693); client_secret_basic, client_secret_post or private_key_jwt',
      consumes: ['application/x-www-form-urlencoded'],
      body: TokenBody,
      response: {
        200: Type.Object({
          access_token: Type.String(),
          issued_token_type: Type.Optional(Type.Literal(ACCESS_TOKEN_TYPE)),
          token_type: Type.Union([Type.Literal('Bearer'), Type.Literal('DPoP')]),
          expires_in: Type.Integer(),
          scope: Type.String()
        }),
        ...oauthErrors
      }
    },
    handler: async (request, reply) => {
      const { grant_type, scope, resource } = request.body
      // An exchange's subject token is checked in the same tick as the client's authentication, and the client's
      // epoch is kept in its round trip: one store round trip per grant.
      const subject = grant_type === TOKEN_EXCHANGE_GRANT ? fastify.auth.tokenExchange.subjectCheck(request.body) : undefined
      const now = fastify.auth.clock.now()
      let epoch: Promise<IssuedUnder> | undefined
      const client = await authenticateClient(fastify, request, { grant: true, alongside: (clientId) => (epoch = fastify.auth.clientTokens.keepEpoch(clientId, now)) })
      if (!GRANT_TYPES.includes(grant_type)) throw new OAuthError(400, 'unsupported_grant_type', `grant_type is one of ${GRANT_TYPES.join(', ')}`)
      // Authenticated: the client's epoch was kept alongside (client-auth.ts).
      const kept = { at: now, issuedUnder: await epoch! }
      const binding = await dpopBinding(fastify, request)
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
      if (grant_type === TOKEN_EXCHANGE_GRANT) {
        const grant = await fastify.auth.tokenExchange.exchange(client, request.body, kept, binding, subject)
        fastify.securityEvent(request, 'client.token_exchanged', { client_id: client.client_id, scope: grant.scope, audience: request.body.resource ?? request.body.audience })
        return grant
      }
      const grant = await fastify.auth.clientTokens.issue(client, { scope, resource }, kept, binding)
      fastify.securityEvent(request, 'client.token_issued', { client_id: client.client_id, scope: grant.scope })
      return grant
    }
  })
}

export default token
