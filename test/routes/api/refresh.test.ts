import { test } from 'tap'
import { badAuthorizationHeaders, forgedTokens } from '../../forge.js'
import { settableClock } from '../../../src/auth/clock.js'
import { assertError, bearer, buildApp, buildTestApp, claimsOf, registerAndLogin, storedTokenState, STORE_MODES, storeEnv } from '../../helper.js'

for (const mode of STORE_MODES) {
  test(`/api/refresh (${mode})`, async (t) => {
    const app = await buildTestApp(t, mode)
    const refresh = (token: string, method: 'GET' | 'POST' = 'POST') => app.inject({ method, url: '/api/refresh', headers: bearer(token) })

    t.test('a new token in the same session; the previous one is refused at once', async (t) => {
      const { token } = await registerAndLogin(app)
      const response = await refresh(token)
      t.equal(response.statusCode, 200)
      const body = response.json()
      t.match(body, { access_token: String, token_type: 'bearer', expires_in: Number })
      const [parent, child] = [claimsOf(token), claimsOf(body.access_token)]
      t.not(child.jti, parent.jti, 'a new jti')
      t.equal(child.sid, parent.sid, 'the same session')
      t.equal(child.auth_time, parent.auth_time, 'the same auth_time')
      t.equal(child.sub, parent.sub)
      assertError(t, await app.inject({ url: '/api/user', headers: bearer(token) }), 401, 'TOKEN_REVOKED')
      assertError(t, await app.inject({ url: '/api/logout', headers: bearer(token) }), 401, 'TOKEN_REVOKED')
      t.equal((await app.inject({ url: '/api/user', headers: bearer(body.access_token) })).statusCode, 200, 'the child works')
    })

    t.test('GET works as POST does, and an empty JSON body is accepted', async (t) => {
      const { token } = await registerAndLogin(app)
      const viaGet = await refresh(token, 'GET')
      t.equal(viaGet.statusCode, 200)
      const viaPost = await app.inject({
        method: 'POST',
        url: '/api/refresh',
        headers: { ...bearer(viaGet.json().access_token), 'content-type': 'application/json' },
        payload: ''
      })
      t.equal(viaPost.statusCode, 200)
    })

    t.test('a chain of refreshes: each token is refused once it has a child', async (t) => {
      let { token } = await registerAndLogin(app)
      const seen: string[] = []
      for (let i = 0; i < 5; i++) {
        seen.push(token)
        token = (await refresh(token)).json().access_token
      }
      for (const old of seen) assertError(t, await app.inject({ url: '/api/user', headers: bearer(old) }), 401, 'TOKEN_REVOKED')
      t.equal((await app.inject({ url: '/api/user', headers: bearer(token) })).statusCode, 200)
    })

    t.test('20 concurrent refreshes of one token all get the same child', async (t) => {
      const { token } = await registerAndLogin(app)
      const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => refresh(token, i % 2 === 0 ? 'GET' : 'POST')))
      t.same(new Set(responses.map((r) => r.statusCode)), new Set([200]))
      const children = new Set(responses.map((r) => r.json().access_token as string))
      t.equal(children.size, 1, 'exactly one child')
      t.equal((await app.inject({ url: '/api/user', headers: bearer([...children][0]!) })).statusCode, 200)
    })

    t.test('a logged-out token cannot be refreshed', async (t) => {
      const { token } = await registerAndLogin(app)
      t.equal((await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(token) })).statusCode, 200)
      assertError(t, await refresh(token), 401, 'TOKEN_REVOKED')
    })

    for (const [description, headers, code] of badAuthorizationHeaders) {
      t.test(`401 ${code} for ${description}`, async (t) => {
        assertError(t, await app.inject({ method: 'POST', url: '/api/refresh', headers }), 401, code)
      })
    }

    t.test('forged and malformed tokens', async (t) => {
      const { token } = await registerAndLogin(app)
      for (const [description, forged, code] of await forgedTokens(app, token)) {
        const response = await refresh(forged)
        t.equal(response.statusCode, 401, description)
        t.equal(response.json().code, code, description)
      }
      t.equal((await refresh(token)).statusCode, 200, 'the genuine token still refreshes')
    })
  })

  test(`refresh grace and reuse (${mode})`, async (t) => {
    t.test('within REFRESH_GRACE the same child again; after it, reuse revokes the session', async (t) => {
      const clock = settableClock()
      const app = await buildTestApp(t, mode, { REFRESH_GRACE: '1' }, clock)
      const { token } = await registerAndLogin(app)
      const first = await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) })
      clock.advance(999)
      const again = await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) })
      t.equal(again.statusCode, 200)
      t.equal(again.json().access_token, first.json().access_token, 'the same child, 999 ms later')
      clock.advance(1)
      assertError(t, await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) }), 401, 'TOKEN_REUSED')
      assertError(t, await app.inject({ url: '/api/user', headers: bearer(first.json().access_token) }), 401, 'TOKEN_REVOKED')
    })

    t.test('with REFRESH_GRACE=0 a second refresh is reuse at once', async (t) => {
      const app = await buildTestApp(t, mode, { REFRESH_GRACE: '0' })
      const { token } = await registerAndLogin(app)
      const child = (await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) })).json().access_token
      assertError(t, await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) }), 401, 'TOKEN_REUSED')
      assertError(t, await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(child) }), 401, 'TOKEN_REVOKED')
    })
  })

  test(`expiry and session lifetime (${mode})`, async (t) => {
    t.test('an expired token is refused: 401 TOKEN_EXPIRED', async (t) => {
      const clock = settableClock()
      const app = await buildTestApp(t, mode, { ACCESS_TOKEN_TTL: '1', REFRESH_GRACE: '0' }, clock)
      const { token } = await registerAndLogin(app)
      clock.advance(2000)
      assertError(t, await app.inject({ url: '/api/user', headers: bearer(token) }), 401, 'TOKEN_EXPIRED')
      assertError(t, await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) }), 401, 'TOKEN_EXPIRED')
    })

    t.test('no token outlives its session, and a refresh after it is SESSION_EXPIRED', async (t) => {
      const clock = settableClock()
      const app = await buildTestApp(t, mode, { ACCESS_TOKEN_TTL: '60', SESSION_TTL: '90' }, clock)
      const { token, body } = await registerAndLogin(app)
      const claims = claimsOf(token)
      t.equal(body.expires_in, 60, 'early in the session: a full ACCESS_TOKEN_TTL')
      clock.advance(45_000)
      const refreshed = (await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) })).json() as { access_token: string; expires_in: number }
      const child = refreshed.access_token
      t.equal(claimsOf(child).exp as number, (claims.auth_time as number) + 90, 'late in it: the child is cut to auth_time + SESSION_TTL')
      t.equal(refreshed.expires_in, 45)
      clock.advance(45_000)
      assertError(t, await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(child) }), 401, 'SESSION_EXPIRED')
      assertError(t, await app.inject({ url: '/api/user', headers: bearer(child) }), 401, 'SESSION_EXPIRED')
    })
  })
}

for (const mode of STORE_MODES) {
  test(`the refreshed jti is refused exactly as long as the token lives (${mode})`, async (t) => {
    const env = await storeEnv(t, mode)
    const app = await buildApp(t, env)
    const { token } = await registerAndLogin(app)
    const { exp } = claimsOf(token) as { exp: number }
    t.equal((await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) })).statusCode, 200)
    t.match(await storedTokenState(env, token), { deniedUntil: exp * 1000, sessionLive: true }, 'the entry ends at exp, to the millisecond; the session goes on')
  })
}
