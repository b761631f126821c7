import { test } from 'tap'
import { buildTestApp } from '../../helper.js'

test('RFC 8414 metadata, at both discovery paths', async (t) => {
  const app = await buildTestApp(t, 'embedded')
  const oauth = await app.inject({ url: '/.well-known/oauth-authorization-server' })
  const oidc = await app.inject({ url: '/.well-known/openid-configuration' })
  t.equal(oauth.statusCode, 200)
  t.same(oidc.json(), oauth.json())
  t.match(oauth.json(), {
    issuer: 'http://auth.test',
    jwks_uri: 'http://auth.test/.well-known/jwks.json',
    token_endpoint: 'http://auth.test/oauth/token',
    introspection_endpoint: 'http://auth.test/oauth/introspect',
    revocation_endpoint: 'http://auth.test/oauth/revoke',
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post']
  })
})
