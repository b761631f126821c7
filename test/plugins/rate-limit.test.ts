import { test } from 'tap'
import { assertError, assertOAuthError, basic, bearer, buildApp, buildTestApp, createClient, form, registerAndLogin, STORE_MODES, storeEnv } from '../helper.js'

const loginAs = (email: string, password: string) => ({ method: 'POST' as const, url: '/api/login', payload: { email, password } })

for (const mode of STORE_MODES) {
  test(`login failures per account and address (${mode}): a guesser elsewhere cannot lock the owner out`, async (t) => {
    const app = await buildTestApp(t, mode, { RATE_LIMIT_LOGIN_PER_ACCOUNT: '3' })
    const victim = await registerAndLogin(app)
    const bystander = await registerAndLogin(app)
    const from = (remoteAddress: string, email: string, password: string) => app.inject({ ...loginAs(email, password), remoteAddress })
    for (let i = 0; i < 3; i++) assertError(t, await from('10.0.0.66', victim.email, `guess number ${i}`), 401, 'INVALID_CREDENTIALS')
    const limited = await from('10.0.0.66', victim.email.toUpperCase(), victim.password)
    assertError(t, limited, 429, 'RATE_LIMITED')
    t.match(limited.headers['retry-after'], /^\d+$/, 'Retry-After')
    t.equal((await from('10.0.0.7', victim.email, victim.password)).statusCode, 200, 'the owner, from an address with no failures, logs in')
    t.equal((await from('10.0.0.66', bystander.email, bystander.password)).statusCode, 200, 'another account logs in from the guessing address')
  })

  test(`login failures per account from all addresses (${mode}): the ceiling on distributed guessing`, async (t) => {
    const app = await buildTestApp(t, mode, { RATE_LIMIT_LOGIN_PER_ACCOUNT: '100', RATE_LIMIT_LOGIN_FAILURES_PER_ACCOUNT: '4' })
    const victim = await registerAndLogin(app)
    for (let i = 0; i < 4; i++) {
      assertError(t, await app.inject({ ...loginAs(victim.email, 'wrong guess'), remoteAddress: `10.0.1.${i}` }), 401, 'INVALID_CREDENTIALS')
    }
    assertError(t, await app.inject({ ...loginAs(victim.email, victim.password), remoteAddress: '10.0.1.99' }), 429, 'RATE_LIMITED')
  })

  test(`a correct login clears the failures of its address (${mode})`, async (t) => {
    const app = await buildTestApp(t, mode, { RATE_LIMIT_LOGIN_PER_ACCOUNT: '3' })
    const owner = await registerAndLogin(app)
    for (const password of ['typo one', 'typo two', owner.password, 'typo three', 'typo four']) await app.inject(loginAs(owner.email, password))
    t.equal((await app.inject(loginAs(owner.email, owner.password))).statusCode, 200, 'two failures since the last success: not limited')
  })

  test(`IPv6 addresses are counted by their /64 (${mode})`, async (t) => {
    const app = await buildTestApp(t, mode, { RATE_LIMIT_LOGIN_PER_IP: '2' })
    const attempt = (remoteAddress: string) => app.inject({ ...loginAs('nobody@example.com', 'whatever1'), remoteAddress })
    assertError(t, await attempt('2001:db8:1:2::1'), 401, 'INVALID_CREDENTIALS')
    assertError(t, await attempt('2001:db8:1:2:ffff::2'), 401, 'INVALID_CREDENTIALS')
    assertError(t, await attempt('2001:0db8:0001:0002::3'), 429, 'RATE_LIMITED')
    assertError(t, await attempt('2001:db8:1:3::1'), 401, 'INVALID_CREDENTIALS')
  })

  test(`login per IP (${mode})`, async (t) => {
    const app = await buildTestApp(t, mode, { RATE_LIMIT_LOGIN_PER_IP: '4' })
    for (let i = 0; i < 4; i++) assertError(t, await app.inject(loginAs(`nobody${i}@example.com`, 'whatever1')), 401, 'INVALID_CREDENTIALS')
    assertError(t, await app.inject(loginAs('nobody9@example.com', 'whatever1')), 429, 'RATE_LIMITED')
    const elsewhere = await app.inject({ ...loginAs('nobody9@example.com', 'whatever1'), remoteAddress: '10.1.2.3' })
    assertError(t, elsewhere, 401, 'INVALID_CREDENTIALS')
  })

  test(`register per IP (${mode})`, async (t) => {
    const app = await buildTestApp(t, mode, { RATE_LIMIT_REGISTER_PER_IP: '2' })
    const register = (i: number) =>
      app.inject({ method: 'POST', url: '/api/register', payload: { name: 'R', email: `r${i}@example.com`, password: 'password1', password_confirmation: 'password1' } })
    t.equal((await register(1)).statusCode, 201)
    t.equal((await register(2)).statusCode, 201)
    assertError(t, await register(3), 429, 'RATE_LIMITED')
  })

  test(`password change per user (${mode})`, async (t) => {
    const app = await buildTestApp(t, mode, { RATE_LIMIT_PASSWORD_PER_USER: '2' })
    const account = await registerAndLogin(app)
    const change = (current: string) =>
      app.inject({ method: 'PUT', url: '/api/user/password', headers: bearer(account.token), payload: { current_password: current, password: 'new password', password_confirmation: 'new password' } })
    assertError(t, await change('wrong one'), 400, 'VALIDATION_FAILED')
    assertError(t, await change('wrong two'), 400, 'VALIDATION_FAILED')
    assertError(t, await change(account.password), 429, 'RATE_LIMITED')
  })
}

for (const mode of STORE_MODES) {
  test(`failed client authentications per client id and address (${mode}): bogus requests do not lock a client out`, async (t) => {
    const app = await buildTestApp(t, mode, { RATE_LIMIT_CLIENT_AUTH_FAILURES: '3' })
    const billing = await createClient(app, 'billing', [])
    const attacker = { remoteAddress: '10.6.6.6' }
    const grant = (secret: string, extra = {}) => app.inject({ ...form('/oauth/token', { grant_type: 'client_credentials' }, basic('billing', secret)), ...extra })
    for (let i = 0; i < 3; i++) assertOAuthError(t, await grant('wrong', attacker), 401, 'invalid_client')
    for (const url of ['/oauth/token', '/oauth/introspect', '/oauth/revoke']) {
      const limited = await app.inject({ ...form(url, { grant_type: 'client_credentials', token: 'x' }, basic('billing', 'wrong')), ...attacker })
      assertOAuthError(t, limited, 429, 'slow_down')
      t.match(limited.headers['retry-after'], /^\d+$/, `${url}: Retry-After`)
    }
    t.equal((await grant(billing)).statusCode, 200, 'the real client, elsewhere, is not refused')
    for (let i = 0; i < 40; i++) assertOAuthError(t, await grant('wrong', { remoteAddress: `10.7.0.${i}` }), 401, 'invalid_client')
    t.equal((await grant(billing)).statusCode, 200, 'nor after 40 failures from 40 other addresses')
  })

  test(`grants per client, counted after authentication (${mode})`, async (t) => {
    const app = await buildTestApp(t, mode, { RATE_LIMIT_TOKEN_PER_CLIENT: '2' })
    const [a, b] = [await createClient(app, 'a', []), await createClient(app, 'b', [])]
    const grant = (id: string, secret: string) => app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic(id, secret)))
    for (let i = 0; i < 5; i++) assertOAuthError(t, await grant('a', 'wrong'), 401, 'invalid_client')
    t.equal((await grant('a', a)).statusCode, 200, "someone else's failures spend none of its grants")
    t.equal((await grant('a', a)).statusCode, 200)
    const limited = await grant('a', a)
    assertOAuthError(t, limited, 429, 'slow_down')
    t.match(limited.headers['retry-after'], /^\d+$/)
    t.equal((await grant('b', b)).statusCode, 200, 'another client is not slowed')
  })
}

test('with Redis, the counts hold across instances', async (t) => {
  const env = await storeEnv(t, 'redis-postgres', { RATE_LIMIT_LOGIN_PER_ACCOUNT: '3' })
  const [a, b] = [await buildApp(t, env), await buildApp(t, env)]
  const victim = await registerAndLogin(a)
  assertError(t, await b.inject(loginAs(victim.email, 'guess 1')), 401, 'INVALID_CREDENTIALS')
  assertError(t, await a.inject(loginAs(victim.email, 'guess 2')), 401, 'INVALID_CREDENTIALS')
  assertError(t, await b.inject(loginAs(victim.email, 'guess 3')), 401, 'INVALID_CREDENTIALS')
  assertError(t, await a.inject(loginAs(victim.email, victim.password)), 429, 'RATE_LIMITED')
})
