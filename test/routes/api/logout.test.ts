import { join } from 'node:path'
import { Database } from '../../../src/stores/sqlite-driver.js'
import { Redis } from 'ioredis'
import { test } from 'tap'
import { badAuthorizationHeaders, forgedTokens } from '../../forge.js'
import { assertError, bearer, buildApp, buildTestApp, claimsOf, login, REDIS_URL, registerAndLogin, sleep, STORE_MODES, storeEnv } from '../../helper.js'

for (const mode of STORE_MODES) {
  test(`/api/logout (${mode})`, async (t) => {
    const app = await buildTestApp(t, mode)

    for (const method of ['GET', 'POST'] as const) {
      t.test(`${method}: 200, then the token and its session are refused at once`, async (t) => {
        const { token } = await registerAndLogin(app)
        const response = await app.inject({ method, url: '/api/logout', headers: bearer(token) })
        t.equal(response.statusCode, 200)
        t.same(response.json(), { status: 'success', message: 'logout' })
        assertError(t, await app.inject({ url: '/api/user', headers: bearer(token) }), 401, 'TOKEN_REVOKED')
        assertError(t, await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) }), 401, 'TOKEN_REVOKED')
        assertError(t, await app.inject({ method, url: '/api/logout', headers: bearer(token) }), 401, 'TOKEN_REVOKED')
      })
    }

    t.test('the session ends: a token refreshed just before logout is dead too', async (t) => {
      const { token } = await registerAndLogin(app, {})
      // With the grace, the parent can still be refreshed into the same child; logout must end that too.
      const child = (await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) })).json().access_token
      t.equal((await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(child) })).statusCode, 200)
      assertError(t, await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) }), 401, 'TOKEN_REVOKED')
      assertError(t, await app.inject({ url: '/api/user', headers: bearer(child) }), 401, 'TOKEN_REVOKED')
    })

    t.test('other sessions of the same user keep working', async (t) => {
      const account = await registerAndLogin(app)
      const other = await login(app, account.email, account.password)
      t.equal((await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(account.token) })).statusCode, 200)
      t.equal((await app.inject({ url: '/api/user', headers: bearer(other.access_token) })).statusCode, 200)
    })

    for (const [description, headers, code] of badAuthorizationHeaders) {
      t.test(`401 ${code} for ${description}`, async (t) => {
        assertError(t, await app.inject({ method: 'POST', url: '/api/logout', headers }), 401, code)
      })
    }

    t.test('forged and malformed tokens cannot log anyone out', async (t) => {
      const { token } = await registerAndLogin(app)
      for (const [description, forged, code] of await forgedTokens(app, token)) {
        const response = await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(forged) })
        t.equal(response.statusCode, 401, description)
        t.equal(response.json().code, code, description)
      }
      t.equal((await app.inject({ url: '/api/user', headers: bearer(token) })).statusCode, 200, 'the genuine session is alive')
    })
  })
}

test('logout writes the jti with the token remaining lifetime (redis-postgres)', async (t) => {
  const env = await storeEnv(t, 'redis-postgres')
  const app = await buildApp(t, env)
  const { token } = await registerAndLogin(app)
  const { sub, sid, jti, exp } = claimsOf(token) as { sub: string; sid: string; jti: string; exp: number }
  const redis = new Redis(REDIS_URL, { keyPrefix: env.REDIS_KEY_PREFIX })
  t.teardown(() => redis.disconnect())
  t.equal(await redis.exists(`{u:${sub}}:s:${sid}`), 1, 'the session exists before logout')
  t.equal((await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(token) })).statusCode, 200)
  const [pttl, now] = [await redis.pttl(`{u:${sub}}:j:${jti}`), Date.now()]
  t.ok(Math.abs(exp * 1000 - now - pttl) < 250, `PTTL ${pttl} ms matches the remaining lifetime`)
  t.equal(await redis.exists(`{u:${sub}}:s:${sid}`), 0, 'the session is gone')
})

// Global logout sets the user's not-before (a login still checking the password cannot start after
// it: test/auth/session-races.test.ts), kept as long as a session begun before it could live.
for (const mode of STORE_MODES) {
  test(`scope=global sets the user's not-before, kept SESSION_TTL (${mode})`, async (t) => {
    const env = await storeEnv(t, mode, { SESSION_TTL: '600' })
    const app = await buildApp(t, env)
    const account = await registerAndLogin(app)
    const sub = claimsOf(account.token).sub as string
    const before = Date.now()
    t.equal((await app.inject({ method: 'POST', url: '/api/logout?scope=global', headers: bearer(account.token) })).statusCode, 200)
    const after = Date.now()

    let stored: { not_before: number; ttl: number }
    if (mode === 'redis-postgres') {
      const redis = new Redis(REDIS_URL, { keyPrefix: env.REDIS_KEY_PREFIX })
      t.teardown(() => redis.disconnect())
      stored = { not_before: Number(await redis.get(`{u:${sub}}:nb`)), ttl: await redis.pttl(`{u:${sub}}:nb`) }
    } else {
      const db = new Database(join(env.DATA_DIR!, 'revocations.db'), { readonly: true })
      t.teardown(() => db.close())
      const row = db.prepare('SELECT not_before, expires_at FROM user_not_before WHERE sub = ?').get(sub) as { not_before: number; expires_at: number }
      stored = { not_before: row.not_before, ttl: row.expires_at - Date.now() }
    }
    t.ok(stored.not_before >= before && stored.not_before <= after, 'the not-before is the moment of the logout')
    t.ok(stored.ttl > 590_000 && stored.ttl <= 600_000 + 60_000, `kept SESSION_TTL (and at most a minute more): ${stored.ttl} ms`)

    while (Date.now() <= stored.not_before) await sleep(1)
    t.equal((await login(app, account.email, account.password)).token_type, 'bearer', 'a login after it works')
  })
}
