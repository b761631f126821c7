import { test } from 'tap'
import { assertError, assertOAuthError, basic, bearer, buildApp, CLIENT_VERIFY_URL, createClient, form, POSTGRES_URL, REDIS_URL, registerAndLogin, storeEnv, until } from './helper.js'
import { OwnRedis, TcpProxy } from './services.js'

test('Redis down: 503 with Retry-After, never 401 nor 200; back without a restart; data loss refuses old tokens on every instance', async (t) => {
  const redis = await OwnRedis.start(t)
  const env = await storeEnv(t, 'redis-postgres', { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '300' })
  const app = await buildApp(t, env)
  const other = await buildApp(t, env)
  const account = await registerAndLogin(app)
  const refreshed = (await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(account.token) })).json().access_token as string
  const secret = await createClient(app, 'batch', ['jobs:run'])
  const grant = () => app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('batch', secret)))
  const clientToken = (await grant()).json().access_token as string

  await redis.stop()
  const started = Date.now()
  assertError(t, await app.inject({ url: '/api/user', headers: bearer(refreshed) }), 503, 'STORE_UNAVAILABLE')
  t.ok(Date.now() - started < 2000, 'fails fast, does not hang')
  assertError(t, await app.inject({ url: '/api/user', headers: bearer(account.token) }), 503, 'STORE_UNAVAILABLE')
  assertError(t, await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(refreshed) }), 503, 'STORE_UNAVAILABLE')
  assertError(t, await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(refreshed) }), 503, 'STORE_UNAVAILABLE')
  assertError(t, await app.inject({ url: '/api/sessions', headers: bearer(refreshed) }), 503, 'STORE_UNAVAILABLE')
  assertError(t, await app.inject({ url: '/auth/verify', headers: bearer(refreshed) }), 503, 'STORE_UNAVAILABLE')
  assertError(t, await app.inject({ url: CLIENT_VERIFY_URL, headers: bearer(clientToken) }), 503, 'STORE_UNAVAILABLE')
  assertOAuthError(t, await grant(), 503, 'temporarily_unavailable')
  assertOAuthError(t, await app.inject(form('/oauth/introspect', { token: clientToken }, basic('batch', secret))), 503, 'temporarily_unavailable')
  assertError(t, await app.inject({ method: 'POST', url: '/api/login', payload: { email: account.email, password: account.password } }), 503, 'STORE_UNAVAILABLE')
  const ready = await app.inject({ url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  t.match(ready.json(), { checks: { users: 'ok', revocations: 'unavailable' } })
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200, 'live touches no store')
  t.equal((await app.inject({ url: '/api/user', headers: bearer('not.a.token') })).statusCode, 401, 'a bad token is still 401')

  // Redis returns without its data (no persistence): no token issued before the loss is accepted, by any instance.
  await redis.start()
  for (const instance of [app, other]) {
    await until('ready again without a restart', async () => (await instance.inject({ url: '/health/ready' })).statusCode === 200)
    assertError(t, await instance.inject({ url: '/api/user', headers: bearer(refreshed) }), 401, 'TOKEN_REVOKED')
    assertError(t, await instance.inject({ url: '/api/user', headers: bearer(account.token) }), 401, 'TOKEN_REVOKED')
    assertError(t, await instance.inject({ method: 'POST', url: '/api/refresh', headers: bearer(account.token) }), 401, 'TOKEN_REVOKED')
    assertError(t, await instance.inject({ url: CLIENT_VERIFY_URL, headers: bearer(clientToken) }), 401, 'TOKEN_REVOKED')
  }
  const newClientToken = (await grant()).json().access_token as string
  t.equal((await other.inject({ url: CLIENT_VERIFY_URL, headers: bearer(newClientToken) })).statusCode, 200, 'a new client token works at once')
  const fresh = await app.inject({ method: 'POST', url: '/api/login', payload: { email: account.email, password: account.password } })
  t.equal(fresh.statusCode, 200, 'a new login works at once')
  t.equal((await other.inject({ url: '/api/user', headers: bearer(fresh.json().access_token) })).statusCode, 200)
})

test('a refresh that failed on an unreachable Redis counts neither as a rotation nor as a reuse', async (t) => {
  const url = new URL(REDIS_URL)
  const proxy = await TcpProxy.start(t, { host: url.hostname, port: Number(url.port || 6379) })
  const app = await buildApp(t, await storeEnv(t, 'redis-postgres', { REDIS_URL: `redis://127.0.0.1:${proxy.port}`, REDIS_COMMAND_TIMEOUT_MS: '300', REFRESH_GRACE: '0' }))
  const { token } = await registerAndLogin(app)

  await proxy.cut()
  assertError(t, await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) }), 503, 'STORE_UNAVAILABLE')
  await proxy.restore()
  await until('Redis reachable again', async () => (await app.inject({ url: '/health/ready' })).statusCode === 200)
  const retried = await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) })
  t.equal(retried.statusCode, 200, 'the retry rotates the token, it is not taken for reuse')
  t.equal((await app.inject({ url: '/api/user', headers: bearer(retried.json().access_token) })).statusCode, 200)
})

test('PostgreSQL unreachable: 503 STORE_UNAVAILABLE, then back without a restart', async (t) => {
  const url = new URL(POSTGRES_URL)
  const proxy = await TcpProxy.start(t, { host: url.hostname, port: Number(url.port || 5432) })
  url.host = `127.0.0.1:${proxy.port}`
  const env = await storeEnv(t, 'redis-postgres')
  const app = await buildApp(t, { ...env, DATABASE_URL: env.DATABASE_URL!.replace(POSTGRES_URL, url.toString().replace(/\/$/, '')) })
  const account = await registerAndLogin(app)

  await proxy.cut()
  assertError(t, await app.inject({ url: '/api/user', headers: bearer(account.token) }), 503, 'STORE_UNAVAILABLE')
  assertError(t, await app.inject({ method: 'POST', url: '/api/login', payload: { email: account.email, password: account.password } }), 503, 'STORE_UNAVAILABLE')
  const body = { name: 'N', email: 'new@example.com', password: 'password1', password_confirmation: 'password1' }
  assertError(t, await app.inject({ method: 'POST', url: '/api/register', payload: body }), 503, 'STORE_UNAVAILABLE')
  const ready = await app.inject({ url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  t.match(ready.json(), { checks: { users: 'unavailable', revocations: 'ok' } })

  await proxy.restore()
  await until('back to 200', async () => (await app.inject({ url: '/api/user', headers: bearer(account.token) })).statusCode === 200)
  t.equal((await app.inject({ method: 'POST', url: '/api/register', payload: body })).statusCode, 201, 'nothing was half-written: the email is still free')
})
