import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { OAuthError } from '../../errors.js'
import { parseScopes } from '../../stores/clients/index.js'
import { authenticateClient } from './client-auth.js'
import { ClientAuthFields, oauthErrors } from './schemas.js'

const TokenBody = Type.Object({
  grant_type: Type.String({ minLength: 1, maxLength: 200 }),
  scope: Type.Optional(Type.String({ maxLength: 2000 })),
  resource: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
  ...ClientAuthFields
})

/** RFC 8707 §2: an absolute URI without a fragment. */
function isResourceIndicator(value: string): boolean {
  try {
    return !value.includes('#') && new URL(value).protocol.length > 1
  } catch {
    return false
  }
}

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
    preHandler: fastify.limits.token,
    handler: async (request, reply) => {
      const client = await authenticateClient(request, fastify.clients)
      const { grant_type, scope, resource } = request.body
      if (grant_type !== 'client_credentials') throw new OAuthError(400, 'unsupported_grant_type', 'only client_credentials is supported')
      // Asking for no scope grants all of the client's scopes.
      const asked = scope === undefined ? [] : parseScopes(scope)
      const granted = asked.length === 0 ? client.scopes : asked
      const refused = granted.filter((name) => !client.scopes.includes(name))
      if (refused.length > 0) throw new OAuthError(400, 'invalid_scope', `the client may not ask for ${refused.join(' ')}`)
      if (resource !== undefined && !isResourceIndicator(resource)) {
        throw new OAuthError(400, 'invalid_target', 'resource must be an absolute URI without a fragment')
      }

      const iat = Math.floor(Date.now() / 1000)
      const exp = iat + fastify.config.CLIENT_TOKEN_TTL
      // Before the token exists: a token is only handed out once the store can tell it apart from older ones.
      await fastify.revocations.keepClientEpoch(client.client_id, exp * 1000)
      const signed = fastify.tokens.signClientToken({
        sub: client.client_id,
        client_id: client.client_id,
        aud: resource ?? fastify.config.ISSUER,
        scope: granted.join(' '),
        iat,
        exp
      })
      fastify.securityEvent(request, 'client.token_issued', { client_id: client.client_id, scope: signed.claims.scope })
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
      return { access_token: signed.token, token_type: 'Bearer' as const, expires_in: exp - iat, scope: signed.claims.scope }
    }
  })
}

export default token
