/**
 * Revoking writes are retry-safe. A refresh, logout or session end that answered 503
 * (too few replicas acknowledged it, or Redis did not answer in time) may be retried with the same
 * token: a 503 refresh leaves the token working (the unacknowledged rotation is rolled back, or lapses
 * on its own), its retry rotates it once the write is acknowledged and is never taken for reuse; a 503
 * logout or session end is retried to 200/204 instead of 401/404; and a command that Redis ran late,
 * after its request gave up, changes none of this.
 *
 * Every test runs redis-servers of its own on free ports (test/services.ts): a Redis without replicas,
 * a master with one replica, and a master that is frozen (SIGSTOP) and thawed (SIGCONT). Never the shared one.
 */
import type { FastifyInstance } from 'fastify'
import { test } from 'tap'
import { settableClock } from '../../../src/auth/clock.js'
import { assertError, bearer, buildApp, claimsOf, login, registerAndLogin, storeEnv, until, type TestContext } from '../../helper.js'
import { ask } from '../../redis-topologies.js'
import { OwnRedis } from '../../services.js'

const refresh = (app: FastifyInstance, token: string) => app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) })
const logout = (app: FastifyInstance, token: string, scope = 'local') => app.inject({ method: 'POST', url: `/api/logout?scope=${scope}`, headers: bearer(token) })
const user = (app: FastifyInstance, token: string) => app.inject({ url: '/api/user', headers: bearer(token) })
const verify = (app: FastifyInstance, token: string) => app.inject({ url: '/auth/verify', headers: bearer(token) })

/** The reuse counter of /metrics: a refresh that is a retry must never move it. */
async function reuseDetections(app: FastifyInstance): Promise<number> {
  const metrics = (await app.inject({ url: '/metrics' })).body
  return Number(/^jwt_auth_reuse_detections_total (\d+)$/m.exec(metrics)?.[1] ?? 'NaN')
}

/** A master and one replica in sync. */
async function masterWithReplica(t: TestContext): Promise<{ master: OwnRedis; replica: OwnRedis; caughtUp(): Promise<void> }> {
  const master = await OwnRedis.start(t)
  const replica = await OwnRedis.start(t, ['--replicaof', '127.0.0.1', String(master.port)])
  const caughtUp = () =>
    until('the replica to hold every write of the master', async () => {
      const info = String(await ask(master.port, 'INFO', 'replication'))
      const offset = /master_repl_offset:(\d+)/.exec(info)?.[1]
      return /slave0:.*state=online/.test(info) && new RegExp(`slave0:.*offset=${offset},`).test(info)
    })
  await caughtUp()
  return { master, replica, caughtUp }
}

test('REDIS_WAIT_REPLICAS=1 on a Redis without replicas: every revoking write is 503, and none is half-done', async (t) => {
  const redis = await OwnRedis.start(t)
  const clock = settableClock()
  const env = await storeEnv(t, 'redis-postgres', { REDIS_URL: redis.url, REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '100', REFRESH_GRACE: '2' })
  const app = await buildApp(t, env, clock)
  const account = await registerAndLogin(app)

  assertError(t, await refresh(app, account.token), 503, 'STORE_UNAVAILABLE')
  t.equal((await user(app, account.token)).statusCode, 200, 'after the 503 the token still works: the rotation was not made')
  t.equal((await verify(app, account.token)).statusCode, 200, 'on /auth/verify too')
  assertError(t, await refresh(app, account.token), 503, 'STORE_UNAVAILABLE')
  clock.advance(5_000)
  const late = await refresh(app, account.token)
  assertError(t, late, 503, 'STORE_UNAVAILABLE') // a retry after the grace is no reuse
  t.equal((await user(app, account.token)).statusCode, 200, 'the session is alive')
  t.equal(await reuseDetections(app), 0, 'no reuse was detected')

  assertError(t, await logout(app, account.token), 503, 'STORE_UNAVAILABLE')
  assertError(t, await user(app, account.token), 401, 'TOKEN_REVOKED')
  assertError(t, await logout(app, account.token), 503, 'STORE_UNAVAILABLE')
  t.equal((await app.inject({ method: 'POST', url: '/api/login', payload: { email: account.email, password: account.password } })).statusCode, 200, 'logins go on')
})

test('a master and a lagging replica (REDIS_WAIT_REPLICAS=1): 503 while it lags, the retry succeeds once it acknowledges', async (t) => {
  const { master, replica, caughtUp } = await masterWithReplica(t)
  const env = await storeEnv(t, 'redis-postgres', { REDIS_URL: master.url, REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '200' })
  const clock = settableClock()
  const app = await buildApp(t, env, clock)
  const account = await registerAndLogin(app)
  // A new session; the clock moves on by a millisecond first, past a not-before that a global logout or
  // a password change set (a login that checked the password at that very moment is refused).
  const fresh = async () => {
    clock.advance(1)
    return (await login(app, account.email, account.password)).access_token
  }
  const lagging = async <T>(work: () => Promise<T>): Promise<T> => {
    replica.pause()
    try {
      return await work()
    } finally {
      replica.resume()
      await caughtUp()
    }
  }

  t.test('refresh', async (t) => {
    const token = await fresh()
    await lagging(async () => {
      assertError(t, await refresh(app, token), 503, 'STORE_UNAVAILABLE')
      t.equal((await user(app, token)).statusCode, 200, 'the token still works after the 503')
      t.equal((await verify(app, token)).statusCode, 200, 'on /auth/verify too')
      assertError(t, await refresh(app, token), 503, 'STORE_UNAVAILABLE')
    })
    const retried = await refresh(app, token)
    t.equal(retried.statusCode, 200, 'the retry, once the replica acknowledges, gets a child')
    const child = retried.json().access_token as string
    t.equal(claimsOf(child).sid, claimsOf(token).sid)
    assertError(t, await user(app, token), 401, 'TOKEN_REVOKED')
    t.equal((await user(app, child)).statusCode, 200, 'the child works')
    const again = await refresh(app, token)
    t.equal(again.statusCode, 200, 'a second retry within REFRESH_GRACE')
    t.equal(again.json().access_token, child, 'gets the same child')
    t.equal((await refresh(app, child)).statusCode, 200, 'the child refreshes normally')
    t.equal(await reuseDetections(app), 0, 'no reuse was detected')
  })

  t.test('logout', async (t) => {
    const token = await fresh()
    await lagging(async () => {
      assertError(t, await logout(app, token), 503, 'STORE_UNAVAILABLE')
      assertError(t, await user(app, token), 401, 'TOKEN_REVOKED')
      assertError(t, await refresh(app, token), 401, 'TOKEN_REVOKED')
      assertError(t, await logout(app, token), 503, 'STORE_UNAVAILABLE')
    })
    // An ending token may only end its own session again, not reach further.
    assertError(t, await logout(app, token, 'others'), 401, 'TOKEN_REVOKED')
    t.equal((await logout(app, token)).statusCode, 200, 'the retry completes the logout')
    assertError(t, await logout(app, token), 401, 'TOKEN_REVOKED')
    assertError(t, await user(app, token), 401, 'TOKEN_REVOKED')
  })

  t.test('global logout', async (t) => {
    const first = await fresh()
    const second = await fresh()
    await lagging(async () => {
      assertError(t, await logout(app, first, 'global'), 503, 'STORE_UNAVAILABLE')
    })
    t.equal((await logout(app, first, 'global')).statusCode, 200, 'the retry completes it')
    assertError(t, await user(app, first), 401, 'TOKEN_REVOKED')
    assertError(t, await user(app, second), 401, 'TOKEN_REVOKED')
    assertError(t, await logout(app, first, 'global'), 401, 'TOKEN_REVOKED')
  })

  t.test('DELETE /api/sessions/:id', async (t) => {
    const actor = await fresh()
    const victim = await fresh()
    const url = `/api/sessions/${claimsOf(victim).sid as string}`
    await lagging(async () => {
      assertError(t, await app.inject({ method: 'DELETE', url, headers: bearer(actor) }), 503, 'STORE_UNAVAILABLE')
    })
    t.equal((await app.inject({ method: 'DELETE', url, headers: bearer(actor) })).statusCode, 204, 'the retry is 204, not 404')
    assertError(t, await user(app, victim), 401, 'TOKEN_REVOKED')
    assertError(t, await app.inject({ method: 'DELETE', url, headers: bearer(actor) }), 404, 'NOT_FOUND')
  })

  t.test('DELETE of the own session', async (t) => {
    const token = await fresh()
    const other = await fresh()
    const url = `/api/sessions/${claimsOf(token).sid as string}`
    await lagging(async () => {
      assertError(t, await app.inject({ method: 'DELETE', url, headers: bearer(token) }), 503, 'STORE_UNAVAILABLE')
      assertError(t, await user(app, token), 401, 'TOKEN_REVOKED')
    })
    // An ending token may only end its own session again: another id is refused, and that session lives.
    const elsewhere = `/api/sessions/${claimsOf(other).sid as string}`
    assertError(t, await app.inject({ method: 'DELETE', url: elsewhere, headers: bearer(token) }), 401, 'TOKEN_REVOKED')
    t.equal((await user(app, other)).statusCode, 200, 'the other session is untouched')
    t.equal((await app.inject({ method: 'DELETE', url, headers: bearer(token) })).statusCode, 204, 'the retry is 204')
    assertError(t, await app.inject({ method: 'DELETE', url, headers: bearer(token) }), 401, 'TOKEN_REVOKED')
  })

  t.test('logout of the other sessions and a password change keep the token, so a retry just works', async (t) => {
    const token = await fresh()
    const other = await fresh()
    await lagging(async () => {
      assertError(t, await logout(app, token, 'others'), 503, 'STORE_UNAVAILABLE')
    })
    t.equal((await logout(app, token, 'others')).statusCode, 200)
    t.equal((await user(app, token)).statusCode, 200)
    assertError(t, await user(app, other), 401, 'TOKEN_REVOKED')

    const change = () =>
      app.inject({ method: 'PUT', url: '/api/user/password', headers: bearer(token), payload: { current_password: account.password, password: 'the next passphrase', password_confirmation: 'the next passphrase' } })
    await lagging(async () => {
      assertError(t, await change(), 503, 'STORE_UNAVAILABLE')
    })
    t.equal((await change()).statusCode, 200, 'the retry changes the password')
    t.equal((await user(app, token)).statusCode, 200)
    account.password = 'the next passphrase'
  })

  t.test('a reuse while the replica lags is reported, and answered 503 like the write it made', async (t) => {
    const token = await fresh()
    const child = (await refresh(app, token)).json().access_token as string
    clock.advance(11_000)
    await lagging(async () => {
      assertError(t, await refresh(app, token), 503, 'STORE_UNAVAILABLE')
      t.equal(await reuseDetections(app), 1, 'the reuse is reported at once')
    })
    assertError(t, await user(app, child), 401, 'TOKEN_REVOKED')
    assertError(t, await refresh(app, token), 401, 'TOKEN_REVOKED')
  })
})

test('a frozen master (REDIS_WAIT_REPLICAS=0): commands that time out and run late change nothing a retry can see', async (t) => {
  const redis = await OwnRedis.start(t)
  const clock = settableClock()
  const env = await storeEnv(t, 'redis-postgres', { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '200' })
  const app = await buildApp(t, env, clock)
  const account = await registerAndLogin(app)
  const other = (await login(app, account.email, account.password)).access_token
  const thawed = async () => {
    redis.resume()
    await until('Redis to answer again', async () => (await app.inject({ url: '/health/ready' })).statusCode === 200)
  }

  t.test('refresh', async (t) => {
    redis.pause()
    assertError(t, await refresh(app, account.token), 503, 'STORE_UNAVAILABLE')
    // Longer than the in-flight bound (REDIS_COMMAND_TIMEOUT_MS + REDIS_WAIT_TIMEOUT_MS) and than REFRESH_GRACE: the
    // rotation that Redis is about to run late would be reuse now, if it counted.
    clock.advance(15_000)
    await thawed()
    const retried = await refresh(app, account.token)
    t.equal(retried.statusCode, 200, 'the retry rotates the token: the late rotation is no reuse')
    t.equal((await user(app, retried.json().access_token)).statusCode, 200, 'the child works')
    assertError(t, await user(app, account.token), 401, 'TOKEN_REVOKED')
    t.equal(await reuseDetections(app), 0)
  })

  t.test('logout', async (t) => {
    // Freeze Redis after the token check, as the logout's write leaves: it times out, and runs late.
    const sessions = app.auth.sessions
    const end = sessions.end
    sessions.end = async (...args) => {
      sessions.end = end
      redis.pause()
      return end.apply(sessions, args)
    }
    assertError(t, await logout(app, other), 503, 'STORE_UNAVAILABLE')
    t.equal(sessions.end, end, 'Redis froze after the check')
    clock.advance(15_000)
    await thawed()
    assertError(t, await user(app, other), 401, 'TOKEN_REVOKED')
    t.equal((await logout(app, other)).statusCode, 200, 'the retry of the logout that ran late is 200')
    assertError(t, await logout(app, other), 401, 'TOKEN_REVOKED')
  })
})
