/**
 * auth.sessions and auth.accounts, without HTTP, against both store modes: login, rotation (grace,
 * reuse), token and session expiry, logout scopes, endOne/list, the listing's pages, the per-user cap
 * (MAX_SESSIONS_PER_USER), password change, user timestamps.
 * Every time decision is driven by the settable clock; nothing sleeps. (The races of a password change
 * with logins in flight are in session-races.test.ts.)
 */
import { test } from 'tap'
import { settableClock, toIso, toSeconds } from '../../src/auth/clock.js'
import { claimsOf, STORE_MODES } from '../helper.js'
import { codeOf, FROM, login, openTestAuth, PASSWORD, register, type LoggedIn } from './support.js'

const NEW_PASSWORD = 'another horse battery'

for (const mode of STORE_MODES) {
  test(`login (${mode})`, async (t) => {
    const { auth, clock, config } = await openTestAuth(t, mode)
    const { user, email } = await register(auth)

    t.same(await auth.sessions.login(email, 'wrong password', FROM), { outcome: 'invalid', user_id: user.id }, 'wrong password')
    t.same(await auth.sessions.login('nobody@example.com', PASSWORD, FROM), { outcome: 'invalid', user_id: undefined }, 'unknown email')

    const result = await login(auth, email)
    t.equal(result.user_id, user.id)
    t.same(Object.keys(result.response).sort(), ['access_token', 'expires_in', 'token_type'])
    t.equal(result.response.token_type, 'bearer')
    t.equal(result.response.expires_in, config.ACCESS_TOKEN_TTL, 'expires_in = ACCESS_TOKEN_TTL')
    const now = toSeconds(clock.now())
    t.match(claimsOf(result.token), { iss: 'http://auth.test', sub: user.id, sid: result.sid, auth_time: now, iat: now, exp: now + config.ACCESS_TOKEN_TTL, jti: String })
    t.same(await auth.verifier.verifyUser(result.token), claimsOf(result.token), 'the token is accepted')
  })

  test(`rotation (${mode})`, async (t) => {
    t.test('a child in the same session; the parent is refused, the child accepted', async (t) => {
      const { auth, clock } = await openTestAuth(t, mode)
      const { token } = await login(auth, (await register(auth)).email)
      clock.advance(5_000)
      const rotated = await auth.sessions.rotate(token)
      if (rotated.outcome !== 'rotated') return t.fail(`outcome ${rotated.outcome}`)
      const [parent, child] = [claimsOf(token), claimsOf(rotated.response.access_token)]
      t.equal(child.sid, parent.sid, 'same sid')
      t.equal(child.auth_time, parent.auth_time, 'same auth_time')
      t.not(child.jti, parent.jti, 'a new jti')
      t.equal(child.iat, toSeconds(clock.now()), 'iat from the clock')
      t.same(rotated.claims, parent, 'the outcome names the parent')
      await t.rejects(auth.verifier.verify(token), { code: 'TOKEN_REVOKED' }, 'parent refused')
      t.equal((await auth.verifier.verifyUser(rotated.response.access_token)).jti, child.jti, 'child accepted')
    })

    t.test('within REFRESH_GRACE the same child again; after it, reuse ends the session', async (t) => {
      const { auth, clock, config } = await openTestAuth(t, mode)
      const { token } = await login(auth, (await register(auth)).email)
      const first = await auth.sessions.rotate(token)
      if (first.outcome !== 'rotated') return t.fail(`outcome ${first.outcome}`)
      const child = first.response.access_token

      clock.advance(config.REFRESH_GRACE * 1000 - 1)
      const again = await auth.sessions.rotate(token)
      t.equal(again.outcome, 'repeated', 'repeated within the grace')
      if (again.outcome === 'repeated') t.equal(again.response.access_token, child, 'the same child')
      await t.rejects(auth.verifier.verify(token), { code: 'TOKEN_REVOKED' }, 'the parent stays refused')
      await t.resolves(auth.verifier.verify(child), 'the child still works')

      clock.advance(2)
      t.equal((await auth.sessions.rotate(token)).outcome, 'reused', 'reused after the grace')
      await t.rejects(auth.verifier.verify(child), { code: 'TOKEN_REVOKED' }, 'the child is refused too')
      t.equal((await auth.sessions.rotate(child)).outcome, 'revoked', 'and cannot be rotated')
    })

    t.test('with REFRESH_GRACE=0 a repeat is reuse at once', async (t) => {
      const { auth } = await openTestAuth(t, mode, { REFRESH_GRACE: '0' })
      const { token } = await login(auth, (await register(auth)).email)
      const first = await auth.sessions.rotate(token)
      if (first.outcome !== 'rotated') return t.fail(`outcome ${first.outcome}`)
      t.equal((await auth.sessions.rotate(token)).outcome, 'reused')
      await t.rejects(auth.verifier.verify(first.response.access_token), { code: 'TOKEN_REVOKED' })
    })
  })

  test(`token expiry and session lifetime (${mode})`, async (t) => {
    t.test('past ACCESS_TOKEN_TTL: TOKEN_EXPIRED for verify and rotate', async (t) => {
      const { auth, clock } = await openTestAuth(t, mode, { ACCESS_TOKEN_TTL: '60' })
      const { token } = await login(auth, (await register(auth)).email)
      const exp = claimsOf(token).exp as number
      clock.set(exp * 1000 - 1)
      await t.resolves(auth.verifier.verify(token), 'accepted 1 ms before exp')
      clock.set(exp * 1000 + 1)
      await t.rejects(auth.verifier.verify(token), { code: 'TOKEN_EXPIRED' })
      await t.rejects(auth.sessions.rotate(token), { code: 'TOKEN_EXPIRED' })
    })

    t.test('no token outlives its session; past SESSION_TTL: SESSION_EXPIRED', async (t) => {
      // A token refreshed late in its session would outlive it by ACCESS_TOKEN_TTL (never longer than SESSION_TTL).
      const { auth, clock } = await openTestAuth(t, mode, { ACCESS_TOKEN_TTL: '60', SESSION_TTL: '90' })
      const { token, response } = await login(auth, (await register(auth)).email)
      const claims = claimsOf(token) as { exp: number; auth_time: number }
      t.equal(claims.exp, claims.auth_time + 60, 'a full ACCESS_TOKEN_TTL early in the session')
      t.equal(response.expires_in, 60)
      clock.advance(45_000)
      const rotated = await auth.sessions.rotate(token)
      if (rotated.outcome !== 'rotated') return t.fail(`outcome ${rotated.outcome}`)
      t.equal(claimsOf(rotated.response.access_token).exp as number, claims.auth_time + 90, 'the child is cut to auth_time + SESSION_TTL')
      t.equal(rotated.response.expires_in, 45, 'and expires_in with it')
      clock.set((claims.auth_time + 90) * 1000)
      await t.rejects(auth.verifier.verify(rotated.response.access_token), { code: 'SESSION_EXPIRED' })
      await t.rejects(auth.sessions.rotate(rotated.response.access_token), { code: 'SESSION_EXPIRED' })
    })
  })

  test(`logout scopes (${mode})`, async (t) => {
    const cases = [
      { scope: 'local', survivors: [1, 2] },
      { scope: 'global', survivors: [] },
      { scope: 'others', survivors: [0] }
    ] as const
    for (const { scope, survivors } of cases) {
      t.test(`end(${scope}) from the first of three sessions`, async (t) => {
        const { auth, clock } = await openTestAuth(t, mode)
        const { user, email } = await register(auth)
        const logins: LoggedIn[] = []
        for (let i = 0; i < 3; i++) {
          logins.push(await login(auth, email))
          clock.advance(1_000)
        }
        await auth.sessions.end(await auth.verifier.verifyUser(logins[0]!.token), scope)
        for (const [i, { token }] of logins.entries()) {
          if ((survivors as readonly number[]).includes(i)) await t.resolves(auth.verifier.verify(token), `session ${i} lives`)
          else await t.rejects(auth.verifier.verify(token), { code: 'TOKEN_REVOKED' }, `session ${i} ended`)
        }
        t.same((await auth.sessions.list(user.id)).sessions.map((s) => s.sid), survivors.map((i) => logins[i]!.sid), 'list')
      })
    }
  })

  test(`list and endOne (${mode})`, async (t) => {
    t.test('live sessions oldest first, with the clock times of login and rotation', async (t) => {
      const { auth, clock, config } = await openTestAuth(t, mode)
      const { user, email } = await register(auth)
      const first = await login(auth, email)
      const firstAt = clock.now()
      clock.advance(1_234)
      const second = await login(auth, email)
      const secondAt = clock.now()
      clock.advance(2_345)
      const rotated = await auth.sessions.rotate(second.token)
      const rotatedAt = clock.now()
      const expiresAt = (ms: number) => (toSeconds(ms) + config.SESSION_TTL) * 1000
      t.same((await auth.sessions.list(user.id)).sessions, [
        { sid: first.sid, sub: user.id, auth_time: toSeconds(firstAt), expires_at: expiresAt(firstAt), created_at: firstAt, last_refreshed_at: firstAt, ...FROM },
        { sid: second.sid, sub: user.id, auth_time: toSeconds(secondAt), expires_at: expiresAt(secondAt), created_at: secondAt, last_refreshed_at: rotatedAt, ...FROM }
      ])

      t.equal(await auth.sessions.endOne(user.id, second.sid), true, 'ended')
      t.equal(await auth.sessions.endOne(user.id, second.sid), false, 'already ended')
      t.equal(await auth.sessions.endOne(user.id, 'no-such-session'), false, 'unknown sid')
      t.equal(await auth.sessions.endOne('another-user', first.sid), false, "another user's session")
      if (rotated.outcome === 'rotated') await t.rejects(auth.verifier.verify(rotated.response.access_token), { code: 'TOKEN_REVOKED' })
      t.same((await auth.sessions.list(user.id)).sessions.map((s) => s.sid), [first.sid])
      await t.resolves(auth.verifier.verify(first.token), 'the other session lives')
    })

    t.test('a session past its SESSION_TTL is not listed, and endOne of it is false', async (t) => {
      const { auth, clock } = await openTestAuth(t, mode, { ACCESS_TOKEN_TTL: '60', SESSION_TTL: '100' })
      const { user, email } = await register(auth)
      const old = await login(auth, email)
      clock.advance(60_000)
      const recent = await login(auth, email)
      clock.set(((claimsOf(old.token).auth_time as number) + 100) * 1000 + 500)
      t.same((await auth.sessions.list(user.id)).sessions.map((s) => s.sid), [recent.sid], 'only the live one')
      t.equal(await auth.sessions.endOne(user.id, old.sid), false)
      t.equal(await auth.sessions.endOne(user.id, recent.sid), true)
      t.same((await auth.sessions.list(user.id)).sessions, [])
    })
  })

  test(`changePassword and user timestamps (${mode})`, async (t) => {
    const createdAt = Date.parse('2031-05-06T07:08:09.123Z')
    const { auth, clock } = await openTestAuth(t, mode, {}, settableClock(createdAt))
    const { user, email } = await register(auth)
    t.equal(user.created_at, '2031-05-06T07:08:09.123Z', 'created_at from the clock')
    t.equal(user.updated_at, '2031-05-06T07:08:09.123Z', 'updated_at from the clock')

    const current = await login(auth, email)
    const other = await login(auth, email)
    const claims = await auth.verifier.verifyUser(current.token)
    await t.rejects(auth.sessions.changePassword(claims, 'not the password', NEW_PASSWORD), { code: 'VALIDATION_FAILED', statusCode: 400 })
    await t.resolves(auth.verifier.verify(other.token), 'a refused change ends nothing')

    clock.advance(20 * 60_000 + 456)
    await auth.sessions.changePassword(claims, PASSWORD, NEW_PASSWORD)
    await t.resolves(auth.verifier.verify(current.token), 'the current session is kept')
    await t.rejects(auth.verifier.verify(other.token), { code: 'TOKEN_REVOKED' }, 'the other session is ended')
    t.same((await auth.sessions.list(user.id)).sessions.map((s) => s.sid), [current.sid])
    t.same(await auth.accounts.find(user.id), { ...user, updated_at: toIso(clock.now()) }, 'updated_at moves, created_at stays')
    t.equal(toIso(clock.now()), '2031-05-06T07:28:09.579Z')
    t.equal((await auth.sessions.login(email, PASSWORD, FROM)).outcome, 'invalid', 'the old password is refused')
    t.equal((await auth.sessions.login(email, NEW_PASSWORD, FROM)).outcome, 'invalid', 'in the very millisecond of the change, no login starts')
    clock.advance(1)
    t.equal((await auth.sessions.login(email, NEW_PASSWORD, FROM)).outcome, 'success', 'the new password works from the next one')
  })

  test(`the listing's pages (${mode})`, async (t) => {
    const { auth, clock } = await openTestAuth(t, mode)
    const { user, email } = await register(auth)
    // Seven sessions, some begun in the same millisecond: the order is (created_at, sid).
    const logins: { sid: string; at: number; token: string }[] = []
    for (const step of [0, 0, 5, 0, 0, 7, 0]) {
      clock.advance(step)
      const { sid, token } = await login(auth, email)
      logins.push({ sid, at: clock.now(), token })
    }
    const expected = [...logins].sort((a, b) => a.at - b.at || (a.sid < b.sid ? -1 : 1)).map((s) => s.sid)
    const stranger = await register(auth)
    await login(auth, stranger.email)

    const walk = async (limit: number) => {
      const pages: string[][] = []
      let cursor: string | undefined
      do {
        const page = await auth.sessions.list(user.id, { limit, cursor })
        pages.push(page.sessions.map((s) => s.sid))
        cursor = page.next_cursor ?? undefined
      } while (cursor !== undefined && pages.length < 20)
      return pages
    }
    for (const limit of [1, 2, 3, 7, 100]) {
      const pages = await walk(limit)
      t.same(pages.flat(), expected, `limit ${limit}: every session exactly once, in (created_at, sid) order`)
      t.same(pages.map((p) => p.length), Array.from({ length: Math.ceil(7 / limit) }, (_, i) => Math.min(limit, 7 - i * limit)), `limit ${limit}: full pages, and no empty last one`)
    }
    t.same(await auth.sessions.list(user.id), { sessions: (await auth.sessions.list(user.id, { limit: 100 })).sessions, next_cursor: null }, 'limit 100 by default')

    // A session that ends between two pages, the one the cursor names included, changes nothing else.
    const first = await auth.sessions.list(user.id, { limit: 3 })
    t.equal(await auth.sessions.endOne(user.id, first.sessions[2]!.sid), true)
    t.equal(await auth.sessions.endOne(user.id, expected[4]!), true)
    const rest = await auth.sessions.list(user.id, { limit: 10, cursor: first.next_cursor! })
    t.same(rest.sessions.map((s) => s.sid), [expected[3], expected[5], expected[6]], 'the next page goes on after the cursor')
    t.equal(rest.next_cursor, null)

    const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
    const bad: [string, { limit?: number; cursor?: string }][] = [
      ['limit 0', { limit: 0 }],
      ['limit 101', { limit: 101 }],
      ['limit 1.5', { limit: 1.5 }],
      ['cursor of garbage', { cursor: 'garbage' }],
      ['cursor, not base64url JSON', { cursor: '!!!' }],
      ['cursor of an object', { cursor: cursorOf({ created_at: 1, sid: 'abc' }) }],
      ['cursor with a sid that is no sid', { cursor: cursorOf([1, '../x']) }],
      ['cursor with a time that is no integer', { cursor: cursorOf([1.5, 'abc']) }],
      ['cursor in another encoding of the same value', { cursor: `${cursorOf([1, 'abc'])}=` }]
    ]
    for (const [what, page] of bad) t.equal(await codeOf(auth.sessions.list(user.id, page)), 'VALIDATION_FAILED', what)
  })

  test(`MAX_SESSIONS_PER_USER (${mode})`, async (t) => {
    t.test('a login at the cap ends the least recently refreshed session', async (t) => {
      const { auth, clock } = await openTestAuth(t, mode, { MAX_SESSIONS_PER_USER: '3' })
      const { user, email } = await register(auth)
      const [a, b, c] = [await login(auth, email), (clock.advance(1_000), await login(auth, email)), (clock.advance(1_000), await login(auth, email))]
      clock.advance(1_000)
      const refreshed = await auth.sessions.rotate(a.token)
      if (refreshed.outcome !== 'rotated') return t.fail(`outcome ${refreshed.outcome}`)
      clock.advance(1_000)

      const d = await login(auth, email)
      t.same(d.evicted, [b.sid], 'b, refreshed least recently, is ended')
      await t.rejects(auth.verifier.verify(b.token), { code: 'TOKEN_REVOKED' }, "b's token is refused at once")
      t.equal((await auth.sessions.rotate(b.token)).outcome, 'revoked', 'and b cannot be refreshed')
      await t.resolves(auth.verifier.verify(refreshed.response.access_token), 'a, the oldest but refreshed, lives')
      await t.resolves(auth.verifier.verify(c.token), 'c lives')
      await t.resolves(auth.verifier.verify(d.token), 'd lives')
      t.same((await auth.sessions.list(user.id)).sessions.map((s) => s.sid), [a.sid, c.sid, d.sid])

      clock.advance(1_000)
      const e = await login(auth, email)
      t.same(e.evicted, [c.sid], 'then c')
      t.same((await auth.sessions.list(user.id)).sessions.map((s) => s.sid), [a.sid, d.sid, e.sid], 'never more than 3')

      const other = await register(auth)
      t.same((await login(auth, other.email)).evicted, [], "another user's sessions are their own")
      t.same((await auth.sessions.list(user.id)).sessions.map((s) => s.sid), [a.sid, d.sid, e.sid])
    })

    t.test('ended and expired sessions do not take a place', async (t) => {
      const { auth, clock } = await openTestAuth(t, mode, { MAX_SESSIONS_PER_USER: '3', ACCESS_TOKEN_TTL: '60', SESSION_TTL: '100' })
      const { user, email } = await register(auth)
      const old = await login(auth, email)
      clock.advance(60_000)
      const b = await login(auth, email)
      clock.advance(1)
      const c = await login(auth, email)
      await auth.sessions.end(await auth.verifier.verifyUser(c.token), 'local')
      clock.advance(1)
      const d = await login(auth, email)
      t.same(d.evicted, [], 'a logged-out session frees its place')
      clock.set(((claimsOf(old.token).auth_time as number) + 100) * 1000 + 1)
      const e = await login(auth, email)
      t.same(e.evicted, [], 'so does one past SESSION_TTL')
      t.same((await auth.sessions.list(user.id)).sessions.map((s) => s.sid), [b.sid, d.sid, e.sid])
      clock.advance(1)
      t.same((await login(auth, email)).evicted, [b.sid], 'at the cap again, the least recently refreshed goes')
    })

    t.test('MAX_SESSIONS_PER_USER=1: each login ends the one before', async (t) => {
      const { auth } = await openTestAuth(t, mode, { MAX_SESSIONS_PER_USER: '1' })
      const { user, email } = await register(auth)
      const first = await login(auth, email)
      const second = await login(auth, email)
      t.same(second.evicted, [first.sid])
      await t.rejects(auth.verifier.verify(first.token), { code: 'TOKEN_REVOKED' })
      t.same((await auth.sessions.list(user.id)).sessions.map((s) => s.sid), [second.sid])
    })
  })
}
