import { test } from 'tap'
import { badAuthorizationHeaders, forgedTokens } from '../forge.js'
import { assertError, basic, bearer, buildTestApp, CLIENT_AUDIENCE_QUERY as AS_CLIENT, createClient, form, registerAndLogin, STORE_MODES } from '../helper.js'

for (const mode of STORE_MODES) {
  test(`/auth/verify (${mode})`, async (t) => {
    const app = await buildTestApp(t, mode)
    const secret = await createClient(app, 'orders-api', ['orders:read', 'orders:write'])
    const clientToken = async (scope = '') =>
      (await app.inject(form('/oauth/token', { grant_type: 'client_credentials', scope }, basic('orders-api', secret)))).json().access_token as string
    const verify = (token: string, query = '', method: 'GET' | 'HEAD' | 'POST' = 'GET') => app.inject({ method, url: `/auth/verify${query}`, headers: bearer(token) })

    t.test('200 for a user token, with its identity in headers', async (t) => {
      const { token } = await registerAndLogin(app)
      const response = await verify(token)
      t.equal(response.statusCode, 200)
      t.match(response.headers, { 'x-auth-subject': /^[0-9a-f-]{36}$/, 'x-auth-session': /.+/, 'x-auth-scope': '', 'x-auth-client': '' })
      for (const method of ['HEAD', 'POST'] as const) t.equal((await verify(token, '', method)).statusCode, 200, `${method} too`)
      const appended = await app.inject({ url: '/auth/verify/orders/42?page=2', headers: bearer(token) })
      t.equal(appended.statusCode, 200, 'with the original path appended, as Envoy sends it')
      t.equal(appended.headers['x-auth-subject'], response.headers['x-auth-subject'])
    })

    t.test('200 for a client token, with its client and scope', async (t) => {
      const token = await clientToken('orders:read')
      const response = await verify(token, AS_CLIENT)
      t.equal(response.statusCode, 200)
      t.match(response.headers, { 'x-auth-subject': 'orders-api', 'x-auth-client': 'orders-api', 'x-auth-scope': 'orders:read', 'x-auth-session': '' })
      assertError(t, await verify(token), 401, 'TOKEN_INVALID')
    })

    t.test('?scope= asks for scopes: 403 insufficient_scope when one is missing', async (t) => {
      const token = await clientToken('orders:read')
      t.equal((await verify(token, `${AS_CLIENT}&scope=orders:read`)).statusCode, 200)
      const refused = await verify(token, `${AS_CLIENT}&scope=orders:read%20orders:write`)
      assertError(t, refused, 403, 'INSUFFICIENT_SCOPE')
      t.match(refused.headers['www-authenticate'], /error="insufficient_scope", scope="orders:read orders:write"/)
      assertError(t, await verify((await registerAndLogin(app)).token, '?scope=orders:read'), 403, 'INSUFFICIENT_SCOPE')
    })

    t.test('401 for a rotated, a logged-out and a revoked token', async (t) => {
      const rotated = (await registerAndLogin(app)).token
      await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(rotated) })
      assertError(t, await verify(rotated), 401, 'TOKEN_REVOKED')
      const loggedOut = (await registerAndLogin(app)).token
      await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(loggedOut) })
      assertError(t, await verify(loggedOut), 401, 'TOKEN_REVOKED')
      const revoked = await clientToken()
      await app.inject(form('/oauth/revoke', { token: revoked }, basic('orders-api', secret)))
      assertError(t, await verify(revoked, AS_CLIENT), 401, 'TOKEN_REVOKED')
    })

    t.test('a deleted client: its tokens are refused at once', async (t) => {
      const other = await createClient(app, 'short-lived', ['x'])
      const token = (await app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('short-lived', other)))).json().access_token as string
      t.equal((await verify(token, AS_CLIENT)).statusCode, 200)
      t.equal(await app.auth.clients.delete('short-lived'), true)
      assertError(t, await verify(token, AS_CLIENT), 401, 'TOKEN_REVOKED')
    })

    t.test('the audience the upstream expects (RFC 8725 §3.9): a token sent to another service is refused', async (t) => {
      const orders = 'https://orders.internal'
      const billing = 'https://billing.internal'
      const other = await createClient(app, 'shipping', [], { audiences: [orders, billing] })
      const tokenFor = async (resource: string) =>
        (await app.inject(form('/oauth/token', { grant_type: 'client_credentials', resource }, basic('shipping', other)))).json().access_token as string
      const forOrders = await tokenFor(orders)
      t.equal((await verify(forOrders, `?audience=${encodeURIComponent(orders)}`)).statusCode, 200, 'at the orders upstream (query)')
      t.equal((await app.inject({ url: '/auth/verify', headers: { ...bearer(forOrders), 'x-auth-audience': orders } })).statusCode, 200, 'at the orders upstream (header)')
      const atBilling = await verify(forOrders, `?audience=${encodeURIComponent(billing)}`)
      assertError(t, atBilling, 401, 'TOKEN_INVALID')
      t.match(atBilling.headers['www-authenticate'], /error="invalid_token"/)
      assertError(t, await app.inject({ url: '/auth/verify', headers: { ...bearer(forOrders), 'x-auth-audience': billing } }), 401, 'TOKEN_INVALID')
      assertError(t, await verify(forOrders), 401, 'TOKEN_INVALID')
      const user = (await registerAndLogin(app)).token
      t.equal((await verify(user)).statusCode, 200, 'a user token is for DEFAULT_AUDIENCE')
      t.equal((await verify(user, '?audience=http%3A%2F%2Fauth.test')).statusCode, 200)
      assertError(t, await verify(user, `?audience=${encodeURIComponent(orders)}`), 401, 'TOKEN_INVALID')
    })

    const badQueries: [string, string | Record<string, string>][] = [
      ['a relative audience', '?audience=%2Forders'],
      ['an audience with a fragment', '?audience=https%3A%2F%2Fx.example%2F%23f'],
      ['two audiences', '?audience=https%3A%2F%2Fa.example&audience=https%3A%2F%2Fb.example'],
      ['a header audience that is no URI', { 'x-auth-audience': 'orders' }],
      ['query and header audiences that differ', { 'x-auth-audience': 'https://a.example', query: '?audience=https%3A%2F%2Fb.example' }],
      ['a scope with CR LF', '?scope=a%0D%0Ab'],
      ['a scope with NUL', '?scope=a%00b'],
      ['a scope with U+2028', '?scope=a%E2%80%A8b'],
      ['a scope with a double quote', '?scope=a%22b'],
      ['a scope with a backslash', '?scope=a%5Cb'],
      ['an empty scope token list of spaces', '?scope=%20']
    ]
    for (const [description, input] of badQueries) {
      t.test(`400 VALIDATION_FAILED for ${description}`, async (t) => {
        const { token } = await registerAndLogin(app)
        const { query = '', ...headers } = typeof input === 'string' ? { query: input } : input
        const response = await app.inject({ url: `/auth/verify${query}`, headers: { ...bearer(token), ...headers } })
        assertError(t, response, 400, 'VALIDATION_FAILED')
      })
    }

    for (const [description, headers, code] of badAuthorizationHeaders) {
      t.test(`401 ${code} for ${description}`, async (t) => {
        assertError(t, await app.inject({ url: '/auth/verify', headers }), 401, code)
      })
    }

    t.test('forged and malformed tokens', async (t) => {
      const { token } = await registerAndLogin(app)
      for (const [description, forged, code] of await forgedTokens(app, token)) {
        const response = await verify(forged)
        t.equal(response.statusCode, 401, description)
        // A user token re-signed as at+jwt lacks the client claims: invalid, as for every other forgery.
        t.equal(response.json().code, code, description)
      }
      t.equal((await verify(token)).statusCode, 200)
      assertError(t, await verify(token, `?scope=${'s'.repeat(2001)}`), 400, 'VALIDATION_FAILED')
    })
  })
}
