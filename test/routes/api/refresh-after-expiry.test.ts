/**
 * REFRESH_AFTER_EXPIRY: an access token may be refreshed for a while after its `exp`, as tymon/jwt-auth's
 * refresh_ttl allows, while it is its session's current token and the session is alive; every other route
 * refuses it. On both store configurations, with a settable clock.
 */
import type { FastifyInstance } from 'fastify'
import { test } from 'tap'
import { settableClock } from '../../../src/auth/clock.js'
import { assertError, bearer, buildTestApp, claimsOf, registerAndLogin, STORE_MODES } from '../../helper.js'

const refresh = (app: FastifyInstance, token: string) => app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) })
const expOf = (token: string): number => (claimsOf(token).exp as number) * 1000

for (const mode of STORE_MODES) {
  test(`REFRESH_AFTER_EXPIRY (${mode})`, async (t) => {
    const clock = settableClock()
    const settings = { ACCESS_TOKEN_TTL: '15m', REFRESH_AFTER_EXPIRY: '1h', REFRESH_GRACE: '10' }

    t.test('inside the window: the expired token refreshes once; every other route refuses it', async (t) => {
      const app = await buildTestApp(t, mode, settings, clock)
      const account = await registerAndLogin(app)
      clock.set(expOf(account.token) + 30 * 60 * 1000)
      assertError(t, await app.inject({ url: '/api/user', headers: bearer(account.token) }), 401, 'TOKEN_EXPIRED')
      assertError(t, await app.inject({ url: '/auth/verify', headers: bearer(account.token) }), 401, 'TOKEN_EXPIRED')
      assertError(t, await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(account.token) }), 401, 'TOKEN_EXPIRED')
      const refreshed = await refresh(app, account.token)
      t.equal(refreshed.statusCode, 200, 'the expired token refreshes')
      const child = refreshed.json().access_token as string
      t.equal((await app.inject({ url: '/api/user', headers: bearer(child) })).statusCode, 200, 'its child works')
      t.equal(claimsOf(child).sid, claimsOf(account.token).sid, 'in the same session')
      t.equal((await refresh(app, account.token)).json().access_token, child, 'within REFRESH_GRACE, a repeat gets the same child')
      clock.advance(11_000)
      assertError(t, await refresh(app, account.token), 401, 'TOKEN_REUSED')
      assertError(t, await app.inject({ url: '/api/user', headers: bearer(child) }), 401, 'TOKEN_REVOKED')
    })

    t.test('past the window: 401 TOKEN_EXPIRED', async (t) => {
      const app = await buildTestApp(t, mode, settings, clock)
      const account = await registerAndLogin(app)
      clock.set(expOf(account.token) + 60 * 60 * 1000)
      assertError(t, await refresh(app, account.token), 401, 'TOKEN_EXPIRED')
      clock.set(expOf(account.token) + 60 * 60 * 1000 - 1)
      t.equal((await refresh(app, account.token)).statusCode, 200, 'a millisecond before its end it refreshes')
    })

    t.test('a token rotated before its exp, and a token of an ended session, are refused after it', async (t) => {
      const app = await buildTestApp(t, mode, settings, clock)
      const account = await registerAndLogin(app)
      const child = (await refresh(app, account.token)).json().access_token as string
      clock.set(expOf(account.token) + 60_000)
      assertError(t, await refresh(app, account.token), 401, 'TOKEN_REUSED')
      // Expired too by now, and inside its own window: its session ended with the reuse.
      assertError(t, await refresh(app, child), 401, 'TOKEN_REVOKED')

      const other = await registerAndLogin(app)
      t.equal((await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(other.token) })).statusCode, 200)
      clock.set(expOf(other.token) + 60_000)
      assertError(t, await refresh(app, other.token), 401, 'TOKEN_REVOKED')
    })

    t.test('SESSION_TTL still caps the session: SESSION_EXPIRED inside the window too', async (t) => {
      const app = await buildTestApp(t, mode, { ...settings, SESSION_TTL: '20m' }, clock)
      const account = await registerAndLogin(app)
      clock.set((claimsOf(account.token).auth_time as number) * 1000 + 20 * 60 * 1000 - 1)
      t.equal((await refresh(app, account.token)).statusCode, 200, 'expired, inside the window, the session alive: it refreshes')
      const child = (await refresh(app, account.token)).json().access_token as string
      t.equal(expOf(child), (claimsOf(account.token).auth_time as number) * 1000 + 20 * 60 * 1000, "the child's exp is the session's end")
      clock.set(expOf(child))
      assertError(t, await refresh(app, child), 401, 'SESSION_EXPIRED')
    })

    t.test('REFRESH_AFTER_EXPIRY=0 (the default): an expired token is 401 TOKEN_EXPIRED, as the seed', async (t) => {
      const app = await buildTestApp(t, mode, { ACCESS_TOKEN_TTL: '15m' }, clock)
      const account = await registerAndLogin(app)
      clock.set(expOf(account.token))
      assertError(t, await refresh(app, account.token), 401, 'TOKEN_EXPIRED')
    })
  })
}
