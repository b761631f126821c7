import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'

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
  id_token_signing_alg_values_supported: Type.Array(Type.String()),
  subject_types_supported: Type.Array(Type.String())
})

/** RFC 8414 metadata, also at the OpenID Connect discovery path that many clients try first. */
const metadata: FastifyPluginAsyncTypebox = async (fastify) => {
  const { ISSUER } = fastify.config
  const authMethods = ['client_secret_basic', 'client_secret_post']
  const document = {
    issuer: ISSUER,
    jwks_uri: `${ISSUER}/.well-known/jwks.json`,
    token_endpoint: `${ISSUER}/oauth/token`,
    introspection_endpoint: `${ISSUER}/oauth/introspect`,
    revocation_endpoint: `${ISSUER}/oauth/revoke`,
    grant_types_supported: ['client_credentials'],
    // No authorization endpoint: users sign in through /api/login.
    response_types_supported: [],
    token_endpoint_auth_methods_supported: authMethods,
    introspection_endpoint_auth_methods_supported: authMethods,
    revocation_endpoint_auth_methods_supported: authMethods,
    id_token_signing_alg_values_supported: [fastify.auth.keys.signing.alg],
    subject_types_supported: ['public']
  }
  for (const url of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
    fastify.get(url, {
      schema: { tags: ['keys'], summary: 'Authorization server metadata (RFC 8414)', response: { 200: Metadata } },
      handler: async (_request, reply) => {
        reply.header('cache-control', 'public, max-age=300')
        return document
      }
    })
  }
}

export default metadata
