import type { LightMyRequestResponse } from 'fastify'
import { test } from 'tap'
import { assertError, bearer, buildTestApp, registerAndLogin, type TestContext } from '../helper.js'

const APP = 'https://app.example.com'
const ORIGINS = `${APP}, http://localhost:5173`

function corsHeaders(response: LightMyRequestResponse): string[] {
  return Object.keys(response.headers).filter((name) => name.startsWith('access-control-'))
}

function preflight(url: string, origin: string, method = 'POST', headers = 'content-type') {
  return {
    method: 'OPTIONS' as const,
    url,
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers }
  }
}

function assertNoCors(t: TestContext, response: LightMyRequestResponse, what: string): void {
  t.same(corsHeaders(response), [], `${what}: no CORS header`)
}

test('without CORS_ORIGINS the plugin is not registered, and no answer carries CORS headers', async (t) => {
  const app = await buildTestApp(t, 'embedded')
  t.notOk(app.hasPlugin('@fastify/cors'), 'not registered')
  const refused = await app.inject(preflight('/api/login', APP))
  assertError(t, refused, 404, 'NOT_FOUND')
  assertNoCors(t, refused, 'preflight')
  assertNoCors(t, await app.inject({ url: '/.well-known/jwks.json', headers: { origin: APP } }), 'JWKS')
})

test('preflight of an allowed origin: 204 with the allow headers, Authorization included, no credentials mode', async (t) => {
  const app = await buildTestApp(t, 'embedded', { CORS_ORIGINS: ORIGINS })
  const response = await app.inject(preflight('/api/login', APP, 'POST', 'content-type'))
  t.equal(response.statusCode, 204)
  t.equal(response.headers['access-control-allow-origin'], APP)
  t.match(response.headers['access-control-allow-methods'], /\bPOST\b/)
  t.match(response.headers['access-control-allow-headers'], /\bAuthorization\b/)
  t.match(response.headers['access-control-allow-headers'], /\bContent-Type\b/)
  t.match(response.headers['access-control-allow-headers'], /\bDPoP\b/, 'a page may send DPoP proofs')
  t.equal(response.headers['access-control-max-age'], '600')
  t.notOk('access-control-allow-credentials' in response.headers, 'tokens travel in Authorization, not cookies')
  t.match(response.headers.vary, /Origin/, 'caches keep answers per origin')

  const user = await app.inject(preflight('/api/user', 'http://localhost:5173', 'GET', 'authorization'))
  t.equal(user.statusCode, 204)
  t.equal(user.headers['access-control-allow-origin'], 'http://localhost:5173')
  const sessions = await app.inject(preflight('/api/sessions/abc', APP, 'DELETE', 'authorization'))
  t.match(sessions.headers['access-control-allow-methods'], /\bDELETE\b/)
})

test('another origin gets no CORS header, on a preflight or a request', async (t) => {
  const app = await buildTestApp(t, 'embedded', { CORS_ORIGINS: ORIGINS })
  for (const origin of ['https://evil.example.com', 'https://app.example.com.evil.example', 'null', 'http://app.example.com']) {
    const refused = await app.inject(preflight('/api/login', origin))
    assertError(t, refused, 404, 'NOT_FOUND')
    assertNoCors(t, refused, `preflight from ${origin}`)
    assertNoCors(t, await app.inject({ url: '/.well-known/jwks.json', headers: { origin } }), `JWKS from ${origin}`)
  }
})

test('the API, the JWKS and the discovery document answer an allowed origin; a 401 stays readable', async (t) => {
  const app = await buildTestApp(t, 'embedded', { CORS_ORIGINS: ORIGINS })
  const account = await registerAndLogin(app)
  const headers = { origin: APP }
  const login = await app.inject({ method: 'POST', url: '/api/login', headers, payload: { email: account.email, password: account.password } })
  t.equal(login.statusCode, 200)
  t.equal(login.headers['access-control-allow-origin'], APP)
  t.equal((await app.inject({ url: '/api/user', headers: { ...headers, ...bearer(account.token) } })).headers['access-control-allow-origin'], APP)
  const refused = await app.inject({ url: '/api/user', headers: { ...headers, authorization: 'Bearer not.a.token' } })
  assertError(t, refused, 401, 'TOKEN_INVALID')
  t.equal(refused.headers['access-control-allow-origin'], APP, 'the page can read why')
  t.match(refused.headers['access-control-expose-headers'], /WWW-Authenticate/)
  t.match(refused.headers['access-control-expose-headers'], /\bDPoP-Nonce\b/, 'and read the DPoP nonce')
  for (const url of ['/.well-known/jwks.json', '/.well-known/oauth-authorization-server']) {
    t.equal((await app.inject({ url, headers })).headers['access-control-allow-origin'], APP, url)
  }
})

test('/oauth/* and /auth/verify are server-to-server: no CORS even for an allowed origin', async (t) => {
  const app = await buildTestApp(t, 'embedded', { CORS_ORIGINS: ORIGINS })
  for (const url of ['/oauth/token', '/oauth/introspect', '/oauth/revoke', '/auth/verify']) {
    // /auth/verify answers every method itself (forward auth): its OPTIONS is a 401, not a preflight.
    const refused = await app.inject(preflight(url, APP, 'POST', 'authorization'))
    t.equal(refused.statusCode, url === '/auth/verify' ? 401 : 404, `preflight ${url}: not answered as one`)
    assertNoCors(t, refused, `preflight ${url}`)
  }
  assertNoCors(t, await app.inject({ method: 'POST', url: '/oauth/token', headers: { origin: APP, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=client_credentials' }), 'POST /oauth/token')
  assertNoCors(t, await app.inject({ url: '/auth/verify', headers: { origin: APP } }), 'GET /auth/verify')
  assertNoCors(t, await app.inject({ url: '/health/live', headers: { origin: APP } }), 'GET /health/live')
})
