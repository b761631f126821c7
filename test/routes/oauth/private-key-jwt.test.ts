/**
 * private_key_jwt (RFC 7523 §2.2, §3): a client proves itself with an assertion signed by its own key, and
 * the service holds only the public half. openid-client's PrivateKeyJwt is the client; the refusals are
 * hand-made assertions, each sent to two instances that share the stores, so that a spent `jti` is spent
 * everywhere. Both store configurations.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose'
import * as client from 'openid-client'
import { test } from 'tap'
import { createVerifier } from '@jwt-auth-service/verifier'
import { CLIENT_ASSERTION_TYPE } from '../../../src/auth/client-assertions.js'
import type { ClientCredential } from '../../../src/schemas/clients.js'
import { assertOAuthError, basic, bearer, CLIENT_AUDIENCE, createClient, form, listeningPair, registerAndLogin, STORE_MODES, until, type TestContext } from '../../helper.js'

async function keyPair(alg: 'ES256' | 'EdDSA' | 'RS256' | 'PS256', kid: string): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg } }
}

/** Serves a JWK Set on loopback, as a client's jwks_uri would. */
async function keySetServer(t: TestContext, keys: JWK[]): Promise<string> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`
}

async function register(app: FastifyInstance, clientId: string, credential: ClientCredential): Promise<void> {
  const { secret } = await app.auth.clients.create(clientId, { scopes: ['ledger:read'], audiences: [CLIENT_AUDIENCE], privileges: [], credential })
  if (secret !== undefined) throw new Error('a client with keys has no secret')
}

/** openid-client against one instance: its endpoints, the service's ISSUER as the assertion's `aud`. */
function configurationFor(issuer: string, base: string, clientId: string, privateKey: CryptoKey, kid: string): client.Configuration {
  const metadata = {
    issuer,
    token_endpoint: `${base}/oauth/token`,
    introspection_endpoint: `${base}/oauth/introspect`,
    revocation_endpoint: `${base}/oauth/revoke`
  }
  const configuration = new client.Configuration(metadata, clientId, undefined, client.PrivateKeyJwt({ key: privateKey, kid }))
  client.allowInsecureRequests(configuration) // plain HTTP on loopback only
  return configuration
}

for (const mode of STORE_MODES) {
  test(`openid-client's PrivateKeyJwt gets a token, introspects and revokes, with keys registered or at a URI (${mode})`, async (t) => {
    const { a, issuer, urlB } = await listeningPair(t, mode)
    const inline = await keyPair('ES256', 'inline-1')
    const remote = await keyPair('EdDSA', 'remote-1')
    await register(a, 'ledger', { auth_method: 'private_key_jwt', jwks: { keys: [inline.jwk] } })
    await register(a, 'ledger-uri', { auth_method: 'private_key_jwt', jwks_uri: await keySetServer(t, [remote.jwk]) })

    const discovered = await client.discovery(new URL(issuer), 'ledger', undefined, client.PrivateKeyJwt({ key: inline.privateKey, kid: 'inline-1' }), {
      algorithm: 'oauth2',
      execute: [client.allowInsecureRequests]
    })
    t.ok(discovered.serverMetadata().token_endpoint_auth_methods_supported?.includes('private_key_jwt'), 'the metadata lists private_key_jwt')

    for (const [clientId, keys, base] of [
      ['ledger', inline, issuer],
      ['ledger', inline, urlB],
      ['ledger-uri', remote, urlB]
    ] as const) {
      const configuration = configurationFor(issuer, base, clientId, keys.privateKey, keys.jwk.kid!)
      const tokens = await client.clientCredentialsGrant(configuration, { scope: 'ledger:read' })
      t.equal(tokens.scope, 'ledger:read', `${clientId} on ${base}: a token`)
      const introspected = await client.tokenIntrospection(configuration, tokens.access_token)
      t.match(introspected, { active: true, client_id: clientId }, `${clientId}: its own token introspected`)
      await client.tokenRevocation(configuration, tokens.access_token)
      t.equal((await client.tokenIntrospection(configuration, tokens.access_token)).active, false, `${clientId}: revoked`)
    }
  })

  test(`assertions that must not pass, each refused on two instances (${mode})`, async (t) => {
    // Many refusals from one address: the limit on them has its own test below.
    const { a, b, issuer } = await listeningPair(t, mode, { RATE_LIMIT_CLIENT_AUTH_FAILURES: '1000' })
    const own = await keyPair('ES256', 'own')
    const stranger = await keyPair('ES256', 'own') // the same kid, another key
    await register(a, 'ledger', { auth_method: 'private_key_jwt', jwks: { keys: [own.jwk] } })
    const now = Math.floor(Date.now() / 1000)
    const sign = (claims: Record<string, unknown>, key = own.privateKey, header: Record<string, unknown> = { alg: 'ES256', kid: 'own' }) =>
      new SignJWT({ iss: 'ledger', sub: 'ledger', aud: issuer, jti: crypto.randomUUID(), iat: now, exp: now + 60, ...claims })
        .setProtectedHeader(header as { alg: string })
        .sign(key)
    const grant = (app: FastifyInstance, assertion: string, fields: Record<string, string> = {}) =>
      app.inject(form('/oauth/token', { grant_type: 'client_credentials', client_id: 'ledger', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion, ...fields }))

    const replayed = await sign({})
    t.equal((await grant(a, replayed)).statusCode, 200, 'a fresh assertion passes on A')
    for (const [name, app] of [['A', a], ['B', b]] as const) {
      const refused = await grant(app, replayed)
      assertOAuthError(t, refused, 401, 'invalid_client')
      t.match(refused.json().error_description, /used before/, `a replay is refused on ${name}`)
    }
    t.equal((await grant(b, await sign({ aud: `${issuer}/oauth/token` }))).statusCode, 200, "the token endpoint's URL is an audience too")

    const hmacKey = new TextEncoder().encode('a shared secret the server never registered, 32 bytes long')
    const noneAlg = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss: 'ledger', sub: 'ledger', aud: issuer, jti: 'n', exp: now + 60 })).toString('base64url')}.`
    const refusals: [string, () => Promise<string>, RegExp][] = [
      ['a wrong aud', () => sign({ aud: 'https://elsewhere.example' }), /aud/],
      ['an expired assertion', () => sign({ iat: now - 600, exp: now - 120 }), /expired/],
      ['an HMAC-signed assertion', () => sign({}, hmacKey as unknown as CryptoKey, { alg: 'HS256', kid: 'own' }), /algorithm/],
      ['alg none', async () => noneAlg, /not a valid signed JWT|algorithm/],
      ['another key under the same kid', () => sign({}, stranger.privateKey), /signature/],
      ['an exp further ahead than CLIENT_ASSERTION_MAX_AGE', () => sign({ exp: now + 3600 }), /CLIENT_ASSERTION_MAX_AGE/],
      ['no exp', () => new SignJWT({ iss: 'ledger', sub: 'ledger', aud: issuer, jti: 'x' }).setProtectedHeader({ alg: 'ES256', kid: 'own' }).sign(own.privateKey), /exp/],
      ['no jti', () => sign({ jti: undefined }), /jti/],
      ['iss other than the client', () => sign({ iss: 'someone-else' }), /iss/],
      ['iat in the future', () => sign({ iat: now + 600, exp: now + 660 }), /iat|future/]
    ]
    for (const [description, make, reason] of refusals) {
      for (const [name, app] of [['A', a], ['B', b]] as const) {
        const refused = await grant(app, await make())
        assertOAuthError(t, refused, 401, 'invalid_client')
        t.match(refused.json().error_description, reason, `${description}: refused on ${name}`)
      }
    }

    // The same client, with a secret it does not have, or in two methods at once.
    assertOAuthError(t, await a.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('ledger', 'guessed'))), 401, 'invalid_client')
    assertOAuthError(t, await grant(a, await sign({}), { client_secret: 'guessed' }), 400, 'invalid_request')
    assertOAuthError(t, await grant(a, await sign({}), { client_assertion_type: 'urn:example:other' }), 400, 'invalid_request')
    assertOAuthError(t, await grant(a, 'not a jwt'), 401, 'invalid_client')
    assertOAuthError(t, await grant(a, await sign({}), { client_id: 'someone-else' }), 401, 'invalid_client')
  })
}

test('a failed assertion counts toward the client-authentication limit like a wrong secret', async (t) => {
  const { a, issuer } = await listeningPair(t, 'redis-postgres', { RATE_LIMIT_CLIENT_AUTH_FAILURES: '3' })
  const own = await keyPair('ES256', 'own')
  await register(a, 'ledger', { auth_method: 'private_key_jwt', jwks: { keys: [own.jwk] } })
  const now = Math.floor(Date.now() / 1000)
  const assertion = (aud: string) =>
    new SignJWT({ iss: 'ledger', sub: 'ledger', aud, jti: crypto.randomUUID(), iat: now, exp: now + 60 }).setProtectedHeader({ alg: 'ES256', kid: 'own' }).sign(own.privateKey)
  const grant = async (aud: string) =>
    a.inject(form('/oauth/token', { grant_type: 'client_credentials', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: await assertion(aud) }))
  for (let failure = 1; failure <= 3; failure++) assertOAuthError(t, await grant('https://elsewhere.example'), 401, 'invalid_client')
  const limited = await grant(issuer)
  t.equal(limited.statusCode, 429, 'the fourth try is limited, a good assertion too')
  t.ok(limited.headers['retry-after'], 'with Retry-After')
})

test('a client without a secret reads the revocation feed with an access token of its own, and the library takes it', async (t) => {
  const { a, b, issuer } = await listeningPair(t, 'redis-postgres')
  const feedUrl = `${issuer}/oauth/revocations`
  const own = await keyPair('ES256', 'feed-key')
  // The feed's URL is the resource its token is for.
  await a.auth.clients.create('edge', { scopes: [], audiences: [feedUrl], privileges: ['revocations'], credential: { auth_method: 'private_key_jwt', jwks: { keys: [own.jwk] } } })
  const configuration = configurationFor(issuer, issuer, 'edge', own.privateKey, 'feed-key')
  let grants = 0
  const accessToken = async () => {
    grants++
    return (await client.clientCredentialsGrant(configuration, { resource: feedUrl })).access_token
  }
  const verifier = createVerifier({ issuer, audience: issuer, accept: ['user'], feed: { url: feedUrl, clientId: 'edge', accessToken } })
  t.teardown(() => verifier.close())
  await verifier.ready()
  // ready(): a connection was made with a token of the client's own (one is asked per connection, so a
  // loaded machine's reconnect asks again: their count is not fixed).
  t.comment(`${grants} token(s) asked for the feed's connections`)
  const account = await registerAndLogin(b)
  await verifier.verify(account.token)
  await b.inject({ method: 'POST', url: '/api/logout', headers: bearer(account.token) })
  await until('the library to refuse the logged-out token', async () => (await verifier.verify(account.token).then(() => undefined, (error: { code?: string }) => error))?.code === 'TOKEN_REVOKED', 2_000)

  // What the feed refuses: a token of another kind, or for another resource, or of a client without the privilege.
  const feed = (headers: Record<string, string>) => b.inject({ url: '/oauth/revocations', headers })
  const user = await feed(bearer(account.token))
  assertOAuthError(t, user, 401, 'invalid_token')
  t.match(user.headers['www-authenticate'], /^Bearer error="invalid_token"/)
  const plainSecret = await createClient(a, 'plain', [], { audiences: [feedUrl, CLIENT_AUDIENCE] })
  const plainToken = async (resource: string) => (await a.inject(form('/oauth/token', { grant_type: 'client_credentials', resource }, basic('plain', plainSecret)))).json().access_token as string
  assertOAuthError(t, await feed(bearer(await plainToken(CLIENT_AUDIENCE))), 401, 'invalid_token')
  assertOAuthError(t, await feed(bearer(await plainToken(feedUrl))), 403, 'unauthorized_client')
  assertOAuthError(t, await feed(bearer('not.a.token')), 401, 'invalid_token')
})
