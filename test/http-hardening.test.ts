import { test } from 'tap'
import { assertError, assertOAuthError, bearer, buildTestApp, createClient, registerAndLogin, STORE_MODES } from './helper.js'

// Found by an outside audit: HEAD changed state, token responses could be cached, and a second Authorization header was ignored.
for (const mode of STORE_MODES) {
  test(`HTTP hardening (${mode})`, async (t) => {
    // No grace: a token that HEAD had rotated would be reuse on its next refresh.
    const app = await buildTestApp(t, mode, { REFRESH_GRACE: '0' })
    const statusOf = async (token: string) => (await app.inject({ url: '/api/user', headers: bearer(token) })).statusCode

    t.test('HEAD /api/refresh and /api/logout: 405 with Allow, and nothing changes (RFC 9110 §9.2.1)', async (t) => {
      const { token } = await registerAndLogin(app)
      for (const url of ['/api/refresh', '/api/logout', '/api/logout?scope=global']) {
        const response = await app.inject({ method: 'HEAD', url, headers: bearer(token) })
        t.equal(response.statusCode, 405, `HEAD ${url} is 405`)
        t.equal(response.headers.allow, 'GET, POST', 'Allow names the methods')
        t.equal(response.body, '', 'a HEAD answer has no body')
      }
      t.equal(await statusOf(token), 200, 'the token still works')
      const refreshed = await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) })
      t.equal(refreshed.statusCode, 200, 'and is refreshed once, normally: no reuse')
      t.equal(await statusOf(refreshed.json().access_token), 200, 'the child works')
    })

    t.test('HEAD on the read-only GET routes changes nothing', async (t) => {
      const { token } = await registerAndLogin(app)
      for (const url of ['/api/user', '/api/sessions']) {
        t.equal((await app.inject({ method: 'HEAD', url, headers: bearer(token) })).statusCode, 200, `HEAD ${url}`)
      }
      t.equal(await statusOf(token), 200)
      t.equal((await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) })).statusCode, 200)
    })

    t.test('responses with tokens or personal data are not stored by caches (RFC 6749 §5.1)', async (t) => {
      const email = `cache.${Date.now()}@example.com`
      const password = 'a passphrase'
      const responses = {
        'POST /api/register': await app.inject({ method: 'POST', url: '/api/register', payload: { name: 'C', email, password, password_confirmation: password } }),
        'POST /api/login': await app.inject({ method: 'POST', url: '/api/login', payload: { email, password } })
      }
      const token = responses['POST /api/login'].json().access_token as string
      const more = {
        'GET /api/user': await app.inject({ url: '/api/user', headers: bearer(token) }),
        'GET /api/sessions': await app.inject({ url: '/api/sessions', headers: bearer(token) }),
        'GET /api/refresh/ (trailing slash)': await app.inject({ url: '/api/refresh/', headers: bearer(token) })
      }
      for (const [what, response] of Object.entries({ ...responses, ...more })) {
        t.ok(response.statusCode < 300, `${what} succeeds`)
        t.equal(response.headers['cache-control'], 'no-store', `${what}: Cache-Control: no-store`)
        t.equal(response.headers.pragma, 'no-cache', `${what}: Pragma: no-cache`)
      }
    })

    t.test('two Authorization headers are refused on every route that reads one', async (t) => {
      const { token } = await registerAndLogin(app)
      const other = (await registerAndLogin(app)).token
      const twice: Record<string, string[]> = { authorization: [`Bearer ${token}`, `Bearer ${other}`] }
      const routes: [string, string, object?][] = [
        ['GET', '/api/user'],
        ['GET', '/api/sessions'],
        ['DELETE', '/api/sessions/nope'],
        ['POST', '/api/refresh'],
        ['GET', '/api/refresh'],
        ['POST', '/api/logout'],
        ['PUT', '/api/user/password', { current_password: 'x', password: 'long enough', password_confirmation: 'long enough' }],
        ['GET', '/auth/verify']
      ]
      for (const [method, url, payload] of routes) {
        const response = await app.inject({ method: method as 'GET', url, headers: twice, ...(payload === undefined ? {} : { payload }) })
        assertError(t, response, 400, 'VALIDATION_FAILED')
        t.match(response.json().message, /Authorization.*twice/, `${method} ${url}: the message says why`)
      }
      t.equal(await statusOf(token), 200, 'neither token was used: the first still works')
      t.equal(await statusOf(other), 200, 'and so does the second')
    })

    t.test('two Authorization headers on the client-authenticated endpoints: 400 invalid_request', async (t) => {
      const secret = await createClient(app, 'twice-client', [])
      const credentials = `Basic ${Buffer.from(`twice-client:${secret}`).toString('base64')}`
      for (const url of ['/oauth/token', '/oauth/introspect', '/oauth/revoke']) {
        const headers: Record<string, string | string[]> = { 'content-type': 'application/x-www-form-urlencoded', authorization: [credentials, 'Basic d3Jvbmc6d3Jvbmc='] }
        const response = await app.inject({ method: 'POST', url, headers, payload: 'grant_type=client_credentials&token=x' })
        assertOAuthError(t, response, 400, 'invalid_request')
      }
    })
  })
}

test('a URL with broken percent-encoding is 400 in the error shape', async (t) => {
  const app = await buildTestApp(t, 'embedded')
  assertError(t, await app.inject({ method: 'DELETE', url: '/api/sessions/%E0%A4%A' }), 400, 'VALIDATION_FAILED')
  assertError(t, await app.inject({ method: 'DELETE', url: `/api/sessions/${'x'.repeat(300)}` }), 400, 'VALIDATION_FAILED')
})


