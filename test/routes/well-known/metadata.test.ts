import { test } from 'tap'
import { assertError, buildTestApp } from '../../helper.js'

test('RFC 8414 metadata at /.well-known/oauth-authorization-server, and nothing that claims OpenID Connect', async (t) => {
  const app = await buildTestApp(t, 'embedded')
  const response = await app.inject({ url: '/.well-known/oauth-authorization-server' })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['cache-control'], 'public, max-age=300')
  const methods = ['client_secret_basic', 'client_secret_post', 'private_key_jwt']
  const algorithms = ['ES256', 'EdDSA', 'Ed25519', 'RS256', 'PS256']
  t.same(response.json(), {
    issuer: 'http://auth.test',
    jwks_uri: 'http://auth.test/.well-known/jwks.json',
    token_endpoint: 'http://auth.test/oauth/token',
    introspection_endpoint: 'http://auth.test/oauth/introspect',
    revocation_endpoint: 'http://auth.test/oauth/revoke',
    grant_types_supported: ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'],
    // REQUIRED by RFC 8414 §2; empty, as there is no authorization endpoint.
    response_types_supported: [],
    token_endpoint_auth_methods_supported: methods,
    introspection_endpoint_auth_methods_supported: methods,
    revocation_endpoint_auth_methods_supported: methods,
    token_endpoint_auth_signing_alg_values_supported: algorithms,
    introspection_endpoint_auth_signing_alg_values_supported: algorithms,
    revocation_endpoint_auth_signing_alg_values_supported: algorithms,
    dpop_signing_alg_values_supported: ['ES256', 'EdDSA', 'RS256', 'PS256'],
    service_documentation: 'http://auth.test/docs'
  })
})

test('the service is no OpenID Provider: /.well-known/openid-configuration is 404 in the error shape', async (t) => {
  const app = await buildTestApp(t, 'embedded')
  assertError(t, await app.inject({ url: '/.well-known/openid-configuration' }), 404, 'NOT_FOUND')
})

test('with DOCS=false the document points to no documentation', async (t) => {
  const app = await buildTestApp(t, 'embedded', { DOCS: 'false' })
  const document = (await app.inject({ url: '/.well-known/oauth-authorization-server' })).json() as Record<string, unknown>
  t.notOk('service_documentation' in document)
})
