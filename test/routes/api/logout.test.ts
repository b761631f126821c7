import { test } from 'tap'
import { settableClock } from '../../../src/auth/clock.js'
import { badAuthorizationHeaders, forgedTokens } from '../../forge.js'
import { assertError, bearer, buildApp, buildTestApp, claimsOf, login, registerAndLogin, storedTokenState, STORE_MODES, storeEnv } from '../../helper.js'

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

for (const mode of STORE_MODES) {
  test(`logout keeps the jti refused exactly as long as the token lives, and ends the session (${mode})`, async (t) => {
    const env = await storeEnv(t, mode)
    const app = await buildApp(t, env)
    const { token } = await registerAndLogin(app)
    const { exp } = claimsOf(token) as { exp: number }
    t.match(await storedTokenState(env, token), { deniedUntil: undefined, sessionLive: true }, 'before logout: no entry, a live session')
    t.equal((await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(token) })).statusCode, 200)
    t.match(await storedTokenState(env, token), { deniedUntil: exp * 1000, sessionLive: false }, 'the entry ends at exp, to the millisecond; the session is gone')
  })
}

// Global logout sets the user's not-before (a login still checking the password cannot start after
// it: test/auth/session-races.test.ts), kept as long as a session begun before it could live.
for (const mode of STORE_MODES) {
  test(`scope=global sets the user's not-before, kept SESSION_TTL (${mode})`, async (t) => {
    const env = await storeEnv(t, mode, { ACCESS_TOKEN_TTL: '300', SESSION_TTL: '600' })
    const clock = settableClock()
    const app = await buildApp(t, env, clock)
    const account = await registerAndLogin(app)
    const loggedOutAt = clock.now()
    t.equal((await app.inject({ method: 'POST', url: '/api/logout?scope=global', headers: bearer(account.token) })).statusCode, 200)

    const notBefore = (await storedTokenState(env, account.token)).notBefore
    if (notBefore === undefined) return t.fail('no not-before stored')
    t.equal(notBefore.at, loggedOutAt, 'the not-before is the moment of the logout')
    const kept = notBefore.keptUntil - loggedOutAt
    t.ok(kept >= 600_000 && kept <= 600_000 + 60_000, `kept SESSION_TTL (and at most a minute more): ${kept} ms`)

    // Credentials checked at the not-before itself are refused; a millisecond later they are not.
    await t.rejects(login(app, account.email, account.password), /login: 401/, 'a login at the moment of the logout is refused')
    clock.advance(1)
    t.equal((await login(app, account.email, account.password)).token_type, 'bearer', 'a login after it works')
  })
}
