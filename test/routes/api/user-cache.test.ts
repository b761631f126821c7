/**
 * /api/user answers from a per-instance cache of user records (auth/accounts.ts) whose version is read
 * in the round trip of the token's check. The cache must not weaken the contract: a password change on one
 * instance (a new updated_at) shows on the next request on every instance, a revoked token is refused
 * whatever is cached, and a cached user gets 503 while the user store cannot answer.
 */
import pg from 'pg'
import { test } from 'tap'
import { settableClock } from '../../../src/auth/clock.js'
import { REACHABILITY_PROBE_MS } from '../../../src/stores/postgres-pool.js'
import { assertError, bearer, buildApp, registerAndLogin, storeEnv, until } from '../../helper.js'
import { TcpProxy } from '../../services.js'

test('a password change on one instance shows on the next /api/user on every instance', async (t) => {
  const env = await storeEnv(t, 'redis-postgres')
  // Both instances on one settable clock: the change's updated_at is later than the registration's without a sleep.
  const clock = settableClock()
  const a = await buildApp(t, env, clock)
  const b = await buildApp(t, env, clock)
  const account = await registerAndLogin(a)
  const before = (await b.inject({ url: '/api/user', headers: bearer(account.token) })).json()
  t.same((await a.inject({ url: '/api/user', headers: bearer(account.token) })).json(), before, 'cached on both instances')

  // Behind the service's back (no new version): the instances keep their copy. This is what the
  // versions are for, and it shows that the cache is there at all.
  const database = new pg.Client({ connectionString: env.DATABASE_URL })
  await database.connect()
  t.teardown(() => database.end())
  await database.query(`UPDATE ${env.DATABASE_SCHEMA}.users SET name = 'Renamed' WHERE id = $1`, [before.id])
  t.equal((await b.inject({ url: '/api/user', headers: bearer(account.token) })).json().name, before.name, 'a change without a new version is not seen')
  await database.query(`UPDATE ${env.DATABASE_SCHEMA}.users SET name = $2 WHERE id = $1`, [before.id, before.name])

  clock.advance(1_000)
  const changed = await a.inject({
    method: 'PUT',
    url: '/api/user/password',
    headers: bearer(account.token),
    payload: { current_password: account.password, password: 'another long password', password_confirmation: 'another long password' }
  })
  t.equal(changed.statusCode, 200, 'password changed on A')
  for (const [name, app] of [['A', a], ['B', b]] as const) {
    const after = (await app.inject({ url: '/api/user', headers: bearer(account.token) })).json()
    t.not(after.updated_at, before.updated_at, `${name}: the new updated_at at once`)
  }

  t.equal((await a.inject({ method: 'POST', url: '/api/logout', headers: bearer(account.token) })).statusCode, 200)
  for (const app of [a, b]) assertError(t, await app.inject({ url: '/api/user', headers: bearer(account.token) }), 401, 'TOKEN_REVOKED')
})

test('while the user store cannot answer, a cached user gets 503, and the cache serves again once it can', async (t) => {
  const direct = await storeEnv(t, 'redis-postgres')
  const url = new URL(direct.DATABASE_URL!)
  const relay = await TcpProxy.start(t, { host: url.hostname, port: Number(url.port || 5432) })
  url.port = String(relay.port)
  const app = await buildApp(t, { ...direct, DATABASE_URL: url.toString() })
  const account = await registerAndLogin(app)
  const user = () => app.inject({ url: '/api/user', headers: bearer(account.token) })
  t.equal((await user()).statusCode, 200, 'cached')

  await relay.cut()
  await until('503 while PostgreSQL is unreachable', async () => (await user()).statusCode === 503, 2 * REACHABILITY_PROBE_MS)
  assertError(t, await user(), 503, 'STORE_UNAVAILABLE')

  await relay.restore()
  await until('200 once PostgreSQL answers again', async () => (await user()).statusCode === 200, 5000)
  t.equal((await user()).statusCode, 200, 'served again without a restart')
})
