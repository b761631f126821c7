import { test } from 'tap'
import { assertError, assertOAuthError, basic, bearer, buildApp, buildTestApp, createClient, form, registerAndLogin, STORE_MODES, storeEnv } from '../helper.js'

const loginAs = (email: string, password: string) => ({ method: 'POST' as const, url: '/api/login', payload: { email, password } })

for (const mode of STORE_MODES) {
  test(`login per account (${mode}): a flood on one account is slowed, others keep working`, async (t) => {
    const app = await buildTestApp(t, mode, { RATE_LIMIT_LOGIN_PER_ACCOUNT: '3' })
    const victim = await registerAndLogin(app)
    const bystander = await registerAndLogin(app)
    // registerAndLogin used one attempt of each account.
    for (let i = 0; i < 2; i++) assertError(t, await app.inject(loginAs(victim.email, 'guess number ' + i)), 401, 'INVALID_CREDENTIALS')
    const limited = await app.inject(loginAs(victim.email.toUpperCase(), victim.password))
    assertError(t, limited, 429, 'RATE_LIMITED')
    t.match(limited.headers['retry-after'], /^\d+$/, 'Retry-After')
    t.equal((await app.inject(loginAs(bystander.email, bystander.password))).statusCode, 200, 'another account logs in')
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
  test(`token endpoint per client (${mode})`, async (t) => {
    const app = await buildTestApp(t, mode, { RATE_LIMIT_TOKEN_PER_CLIENT: '2' })
    const [a, b] = [await createClient(app, 'a', []), await createClient(app, 'b', [])]
    const grant = (id: string, secret: string) => app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic(id, secret)))
    t.equal((await grant('a', a)).statusCode, 200)
    t.equal((await grant('a', 'wrong')).statusCode, 401, 'failed attempts count too')
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
  assertError(t, await b.inject(loginAs(victim.email, victim.password)), 429, 'RATE_LIMITED')
})
