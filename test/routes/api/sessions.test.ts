import { test } from 'tap'
import { badAuthorizationHeaders } from '../../forge.js'
import { settableClock } from '../../../src/auth/clock.js'
import { assertError, bearer, buildTestApp, claimsOf, login, registerAndLogin, STORE_MODES } from '../../helper.js'

for (const mode of STORE_MODES) {
  test(`sessions (${mode})`, async (t) => {
    const clock = settableClock()
    const app = await buildTestApp(t, mode, {}, clock)
    const sessionsOf = async (token: string) => (await app.inject({ url: '/api/sessions', headers: bearer(token) })).json().sessions as Record<string, unknown>[]
    const statusOf = async (token: string) => (await app.inject({ url: '/api/user', headers: bearer(token) })).statusCode

    t.test('GET /api/sessions lists the live sessions, with the current one marked', async (t) => {
      const account = await registerAndLogin(app)
      const phone = await app.inject({ method: 'POST', url: '/api/login', headers: { 'user-agent': 'phone/1.0' }, payload: { email: account.email, password: account.password } })
      const phoneToken = phone.json().access_token as string
      const listed = await sessionsOf(phoneToken)
      t.equal(listed.length, 2)
      for (const session of listed) {
        t.match(session, { id: String, created_at: String, last_refreshed_at: String, user_agent: String, ip: String, current: Boolean })
      }
      const current = listed.find((s) => s.current)!
      t.equal(current.id, claimsOf(phoneToken).sid)
      t.equal(current.user_agent, 'phone/1.0')
      t.equal(current.ip, '127.0.0.1')
      const before = current.last_refreshed_at as string
      clock.advance(5)
      const refreshed = (await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(phoneToken) })).json().access_token
      const after = (await sessionsOf(refreshed)).find((s) => s.current)!
      t.ok(Date.parse(after.last_refreshed_at as string) > Date.parse(before), 'last_refreshed_at moves on refresh')
      t.equal(after.created_at, current.created_at)

      t.equal((await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(account.token) })).statusCode, 200)
      t.equal((await sessionsOf(refreshed)).length, 1, 'a logged-out session is no longer listed')
    })

    t.test('GET /api/sessions?limit=&cursor= pages through every session exactly once, oldest first', async (t) => {
      const account = await registerAndLogin(app)
      const tokens = [account.token]
      for (let i = 0; i < 6; i++) {
        clock.advance(i % 2 === 0 ? 0 : 3) // some begin in the same millisecond: then the id decides
        tokens.push((await login(app, account.email, account.password)).access_token)
      }
      const all = (await app.inject({ url: '/api/sessions', headers: bearer(tokens[0]!) })).json()
      t.equal(all.next_cursor, null, 'one page holds them all by default')
      const order = (all.sessions as { id: string; created_at: string }[]).map((s) => [s.created_at, s.id] as const)
      t.same(order, [...order].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1)), 'ordered by created_at, then id')
      t.same(order.map(([, id]) => id).sort(), tokens.map((token) => claimsOf(token).sid as string).sort(), 'every live session')

      const seen: string[] = []
      const sizes: number[] = []
      let cursor: string | null = null
      do {
        const response = await app.inject({ url: '/api/sessions', query: { limit: '3', ...(cursor === null ? {} : { cursor }) }, headers: bearer(tokens[6]!) })
        t.equal(response.statusCode, 200)
        const page = response.json() as { sessions: { id: string; current: boolean }[]; next_cursor: string | null }
        seen.push(...page.sessions.map((s) => s.id))
        sizes.push(page.sessions.length)
        cursor = page.next_cursor
      } while (cursor !== null && sizes.length < 10)
      t.same(sizes, [3, 3, 1], 'pages of 3, and no empty last page')
      t.same(seen, order.map(([, id]) => id), 'the pages together: every session once, in order')
    })

    const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
    const badQueries: [string, string, RegExp][] = [
      ['limit=0', 'limit=0', /limit/],
      ['limit=101', 'limit=101', /limit/],
      ['limit=abc', 'limit=abc', /limit/],
      ['limit=1.5', 'limit=1.5', /limit/],
      ['limit=-1', 'limit=-1', /limit/],
      ['limit=01', 'limit=01', /limit/],
      ['an empty limit', 'limit=', /limit/],
      ['limit twice', 'limit=1&limit=2', /limit/],
      ['cursor of garbage', 'cursor=garbage', /cursor/],
      ['cursor with characters outside base64url', 'cursor=%25%25%25', /cursor/],
      ['an empty cursor', 'cursor=', /cursor/],
      ['a cursor of 201 characters', `cursor=${'A'.repeat(201)}`, /cursor/],
      ['cursor of another shape', `cursor=${cursorOf({ created_at: 0, sid: 'x' })}`, /cursor/],
      ['cursor with a sid that is no sid', `cursor=${cursorOf([0, '../../x'])}`, /cursor/]
    ]
    for (const [description, query, field] of badQueries) {
      t.test(`GET /api/sessions: 400 VALIDATION_FAILED for ${description}`, async (t) => {
        const account = await registerAndLogin(app)
        const response = await app.inject({ url: `/api/sessions?${query}`, headers: bearer(account.token) })
        assertError(t, response, 400, 'VALIDATION_FAILED')
        t.match(response.json().message, field)
      })
    }

    t.test("DELETE /api/sessions/:id revokes that session at once, and only the user's own", async (t) => {
      const account = await registerAndLogin(app)
      const laptop = await login(app, account.email, account.password)
      const stranger = await registerAndLogin(app)
      const laptopSid = claimsOf(laptop.access_token).sid as string

      assertError(t, await app.inject({ method: 'DELETE', url: `/api/sessions/${laptopSid}`, headers: bearer(stranger.token) }), 404, 'NOT_FOUND')
      t.equal(await statusOf(laptop.access_token), 200, "another user cannot end it")

      const response = await app.inject({ method: 'DELETE', url: `/api/sessions/${laptopSid}`, headers: bearer(account.token) })
      t.equal(response.statusCode, 204)
      t.equal(response.body, '')
      t.equal(await statusOf(laptop.access_token), 401, 'the session is revoked')
      t.equal(await statusOf(account.token), 200, 'the session that asked is not')
      assertError(t, await app.inject({ method: 'DELETE', url: `/api/sessions/${laptopSid}`, headers: bearer(account.token) }), 404, 'NOT_FOUND')
      assertError(t, await app.inject({ method: 'DELETE', url: `/api/sessions/${'x'.repeat(65)}`, headers: bearer(account.token) }), 400, 'VALIDATION_FAILED')
    })

    for (const [description, headers, code] of badAuthorizationHeaders) {
      t.test(`401 ${code} for ${description}`, async (t) => {
        assertError(t, await app.inject({ url: '/api/sessions', headers }), 401, code)
        assertError(t, await app.inject({ method: 'DELETE', url: '/api/sessions/abc', headers }), 401, code)
      })
    }
  })

  test(`MAX_SESSIONS_PER_USER (${mode})`, async (t) => {
    const clock = settableClock()
    const app = await buildTestApp(t, mode, { MAX_SESSIONS_PER_USER: '3' }, clock)
    const account = await registerAndLogin(app)
    const next = async () => {
      clock.advance(1_000)
      return (await login(app, account.email, account.password)).access_token
    }
    const [b, c] = [await next(), await next()]
    clock.advance(1_000)
    const refreshed = (await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(account.token) })).json().access_token as string
    const d = await next()

    assertError(t, await app.inject({ url: '/api/user', headers: bearer(b) }), 401, 'TOKEN_REVOKED')
    assertError(t, await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(b) }), 401, 'TOKEN_REVOKED')
    for (const token of [refreshed, c, d]) t.equal((await app.inject({ url: '/api/user', headers: bearer(token) })).statusCode, 200)
    const listed = (await app.inject({ url: '/api/sessions', headers: bearer(d) })).json().sessions as { id: string }[]
    t.same(listed.map((s) => s.id), [refreshed, c, d].map((token) => claimsOf(token).sid), 'the first session, refreshed, is kept; the second, not refreshed since, is ended')
  })

  test(`logout scopes (${mode})`, async (t) => {
    const clock = settableClock()
    const app = await buildTestApp(t, mode, {}, clock)
    const statusOf = async (token: string) => (await app.inject({ url: '/api/user', headers: bearer(token) })).statusCode
    const threeSessions = async () => {
      const account = await registerAndLogin(app)
      const b = (await login(app, account.email, account.password)).access_token
      const c = (await login(app, account.email, account.password)).access_token
      const other = await registerAndLogin(app)
      return { a: account.token, b, c, other: other.token }
    }

    t.test('scope=local (the default) ends this session only', async (t) => {
      const { a, b, c } = await threeSessions()
      t.equal((await app.inject({ method: 'POST', url: '/api/logout?scope=local', headers: bearer(a) })).statusCode, 200)
      t.same([await statusOf(a), await statusOf(b), await statusOf(c)], [401, 200, 200])
    })

    t.test('scope=global ends every session of the user, and no other user', async (t) => {
      const { a, b, c, other } = await threeSessions()
      t.equal((await app.inject({ method: 'GET', url: '/api/logout?scope=global', headers: bearer(a) })).statusCode, 200)
      t.same([await statusOf(a), await statusOf(b), await statusOf(c)], [401, 401, 401])
      t.equal(await statusOf(other), 200)
      assertError(t, await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(b) }), 401, 'TOKEN_REVOKED')
    })

    t.test('scope=others ends every other session and keeps this one', async (t) => {
      const { a, b, c } = await threeSessions()
      t.equal((await app.inject({ method: 'POST', url: '/api/logout?scope=others', headers: bearer(a) })).statusCode, 200)
      t.same([await statusOf(a), await statusOf(b), await statusOf(c)], [200, 401, 401])
      t.equal((await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(a) })).statusCode, 200, 'this session still refreshes')
    })

    for (const scope of ['everything', '', 'LOCAL']) {
      t.test(`400 VALIDATION_FAILED for scope=${JSON.stringify(scope)}, and nothing is revoked`, async (t) => {
        const { a } = await threeSessions()
        const response = await app.inject({ method: 'POST', url: `/api/logout?scope=${scope}`, headers: bearer(a) })
        assertError(t, response, 400, 'VALIDATION_FAILED')
        t.match(response.json().message, /scope/)
        t.equal(await statusOf(a), 200)
      })
    }
  })
}
