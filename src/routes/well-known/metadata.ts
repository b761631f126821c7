import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { DPOP_ADVERTISED_ALGORITHMS } from '@jwt-auth-service/verifier/feed'
import { ASSERTION_ALGORITHMS } from '../../auth/client-assertions.js'
import { TOKEN_EXCHANGE_GRANT } from '../../auth/token-exchange.js'

const Metadata = Type.Object({
  issuer: Type.String(),
  jwks_uri: Type.String(),
  token_endpoint: Type.String(),
  introspection_endpoint: Type.String(),
  revocation_endpoint: Type.String(),
  grant_types_supported: Type.Array(Type.String()),
  response_types_supported: Type.Array(Type.String()),
  token_endpoint_auth_methods_supported: Type.Array(Type.String()),
  introspection_endpoint_auth_methods_supported: Type.Array(Type.String()),
  revocation_endpoint_auth_methods_supported: Type.Array(Type.String()),
  token_endpoint_auth_signing_alg_values_supported: Type.Array(Type.String()),
  introspection_endpoint_auth_signing_alg_values_supported: Type.Array(Type.String()),
  revocation_endpoint_auth_signing_alg_values_supported: Type.Array(Type.String()),
  dpop_signing_alg_values_supported: Type.Array(Type.String()),
  service_documentation: Type.Optional(Type.String())
})

/**
 * RFC 8414 authorization server metadata, at RFC 8414 §3's path only. The service is no OpenID
 * Provider (no ID tokens, no userinfo, no authorization endpoint), so `/.well-known/openid-configuration`
 * is a 404: an OIDC client must fail at discovery, not later on a missing member.
 */
const metadata: FastifyPluginAsyncTypebox = async (fastify) => {
  const { ISSUER, DOCS } = fastify.config
  // RFC 6749 §2.3.1 and RFC 7523 §2.2 (a federated workload token is sent the same way, as a jwt-bearer
  // assertion); the same for the token, introspection (RFC 7662 §2.1) and revocation (RFC 7009 §2.1) endpoints.
  const authMethods = ['client_secret_basic', 'client_secret_post', 'private_key_jwt']
  const document = {
    issuer: ISSUER,
    jwks_uri: `${ISSUER}/.well-known/jwks.json`,
    token_endpoint: `${ISSUER}/oauth/token`,
    introspection_endpoint: `${ISSUER}/oauth/introspect`,
    revocation_endpoint: `${ISSUER}/oauth/revoke`,
    grant_types_supported: ['client_credentials', TOKEN_EXCHANGE_GRANT],
    // RFC 8414 §2 makes this member REQUIRED, and response types belong to the authorization endpoint,
    // which this server does not have (users sign in through /api/login): the honest value is empty.
    // Omitting it would break parsers that enforce the RFC; ["code"] would send clients to an
    // authorization_endpoint that does not exist. Client-credentials clients (oauth4webapi, the
    // test suite's) read only the endpoints and auth methods.
    response_types_supported: [],
    token_endpoint_auth_methods_supported: authMethods,
    introspection_endpoint_auth_methods_supported: authMethods,
    revocation_endpoint_auth_methods_supported: authMethods,
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
    introspection_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
    revocation_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
    // RFC 9449 §5.1: the algorithms a DPoP proof may use.
    dpop_signing_alg_values_supported: [...DPOP_ADVERTISED_ALGORITHMS],
    ...(DOCS ? { service_documentation: `${ISSUER}/docs` } : {})
  }
  fastify.get('/.well-known/oauth-authorization-server', {
    schema: { tags: ['keys'], summary: 'Authorization server metadata (RFC 8414)', response: { 200: Metadata } },
    handler: async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300')
      return document
    }
  })
}

export default metadata
