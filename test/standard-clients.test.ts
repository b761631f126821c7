import type { FastifyInstance } from 'fastify'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import * as oauth from 'oauth4webapi'
import { test } from 'tap'
import { buildApp, createClient, freePort, registerAndLogin, storeEnv } from './helper.js'

/** Real HTTP on loopback, with ISSUER naming the address the clients use. */
async function listening(t: Parameters<typeof buildApp>[0]): Promise<{ app: FastifyInstance; issuer: URL }> {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const app = await buildApp(t, await storeEnv(t, 'redis-postgres', { ISSUER: issuer }))
  await app.listen({ port, host: '127.0.0.1' })
  return { app, issuer: new URL(issuer) }
}

test('oauth4webapi: discovery, client credentials, introspection, revocation', async (t) => {
  const { app, issuer } = await listening(t)
  const secret = await createClient(app, 'reports', ['reports:read', 'reports:write'])
  const insecure = { [oauth.allowInsecureRequests]: true } // plain HTTP on loopback only
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }))
  t.equal(as.token_endpoint, `${issuer.origin}/oauth/token`)
  // No OpenID Provider: a client that asks for OIDC discovery is told so at once (404), not half-served.
  const oidc = await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure })
  t.equal(oidc.status, 404, 'OIDC discovery: 404')
  await t.rejects(oauth.processDiscoveryResponse(issuer, oidc), 'and oauth4webapi refuses it')
  const client: oauth.Client = { client_id: 'reports' }

  for (const [method, auth] of [['client_secret_basic', oauth.ClientSecretBasic(secret)], ['client_secret_post', oauth.ClientSecretPost(secret)]] as const) {
    const grant = await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams({ scope: 'reports:read' }), insecure)
    const tokens = await oauth.processClientCredentialsResponse(as, client, grant)
    t.equal(tokens.token_type, 'bearer', `${method}: oauth4webapi lower-cases token_type`)
    t.equal(tokens.scope, 'reports:read')

    const introspected = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, tokens.access_token, insecure))
    t.match(introspected, { active: true, client_id: 'reports', scope: 'reports:read' }, `${method}: active`)
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, tokens.access_token, insecure))
    const after = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, tokens.access_token, insecure))
    t.equal(after.active, false, `${method}: inactive after revocation`)
  }

  // A wrong secret: 401 with the Basic challenge of RFC 6749 §5.2, which the library surfaces as such.
  const refused = await oauth
    .processClientCredentialsResponse(as, client, await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic('wrong'), {}, insecure))
    .then(() => undefined, (error: unknown) => error as oauth.WWWAuthenticateChallengeError)
  t.equal(refused?.name, 'WWWAuthenticateChallengeError')
  t.equal(refused?.status, 401)
  t.match(refused?.cause, [{ scheme: 'basic' }])
  t.match(await refused?.response.json(), { error: 'invalid_client' })
})

test('jose verifies user and client tokens against the JWKS over HTTP', async (t) => {
  const { app, issuer } = await listening(t)
  const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', issuer))
  const { token } = await registerAndLogin(app)
  const user = await jwtVerify(token, jwks, { issuer: issuer.origin, typ: 'JWT', algorithms: ['ES256'] })
  t.match(user.payload, { sid: String, auth_time: Number })

  const secret = await createClient(app, 'ledger', ['ledger:read'], { audiences: ['https://ledger.internal'] })
  const response = await fetch(new URL('/oauth/token', issuer), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'ledger', client_secret: secret, resource: 'https://ledger.internal' })
  })
  const { access_token } = (await response.json()) as { access_token: string }
  const verified = await jwtVerify(access_token, jwks, { issuer: issuer.origin, audience: 'https://ledger.internal', typ: 'at+jwt', algorithms: ['ES256'] })
  t.match(verified.payload, { client_id: 'ledger', sub: 'ledger', scope: 'ledger:read' })
})
