/**
 * Session stores written by the previous release keep working: in Redis a user's session index was a
 * plain set of sids ({u:<sub>}:sessions), which every script that touches it turns into the two sorted
 * sets of this release; the embedded revocations.db at user_version 1 is migrated to step 2.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Database } from '../../../src/stores/sqlite-driver.js'
import { Redis } from 'ioredis'
import { test } from 'tap'
import { settableClock, toIso } from '../../../src/auth/clock.js'
import { hashPassword } from '../../../src/auth/passwords.js'
import { createSqliteUserStore } from '../../../src/stores/users/sqlite.js'
import { REDIS_URL, type Env, type TestContext } from '../../helper.js'
import { login, openTestAuth, openTestAuthWith, PASSWORD, register, type TestAuth } from '../../auth/support.js'

/** Rewrites the user's index as the previous release kept it: one set of sids, with the same expiry. */
async function toPreviousRelease(t: TestContext, env: Env, sub: string): Promise<{ redis: Redis; key: (name: string) => string }> {
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const key = (name: string) => `${env.REDIS_KEY_PREFIX}{u:${sub}}:${name}`
  const sids = await redis.zrange(key('sessions'), 0, -1)
  const expireAt = Number(await redis.call('PEXPIRETIME', key('sessions')))
  await redis.del(key('sessions'), key('created'))
  await redis.sadd(key('sessions'), ...sids)
  await redis.pexpireat(key('sessions'), expireAt)
  return { redis, key }
}

async function withSessions(t: TestContext, count: number, env: Env = {}) {
  const opened = await openTestAuth(t, 'redis-postgres', env)
  const { auth, clock } = opened
  const { user, email } = await register(auth)
  const logins = []
  for (let i = 0; i < count; i++) {
    logins.push(await login(auth, email))
    clock.advance(1_000)
  }
  const legacy = await toPreviousRelease(t, opened.env, user.id)
  return { ...opened, ...legacy, user, email, logins, sids: logins.map((l) => l.sid) }
}

const sidsOf = async ({ auth }: TestAuth, sub: string) => (await auth.sessions.list(sub)).sessions.map((s) => s.sid)

test('a session index of the previous release (a set) keeps working (redis)', async (t) => {
  t.test('listing, by pages; the index becomes two sorted sets with the same expiry', async (t) => {
    const opened = await withSessions(t, 4)
    const { auth, redis, key, user, sids } = opened
    const expireAt = Number(await redis.call('PEXPIRETIME', key('sessions')))
    t.equal(await redis.type(key('sessions')), 'set', 'the previous layout')
    const first = await auth.sessions.list(user.id, { limit: 3 })
    const second = await auth.sessions.list(user.id, { limit: 3, cursor: first.next_cursor! })
    t.same([...first.sessions, ...second.sessions].map((s) => s.sid), sids, 'every session once, oldest first')
    t.equal(second.next_cursor, null)
    for (const name of ['sessions', 'created']) {
      t.equal(await redis.type(key(name)), 'zset', `${name} is a sorted set`)
      t.equal(Number(await redis.call('PEXPIRETIME', key(name))), expireAt, `${name} keeps the expiry`)
    }
  })

  t.test('refresh', async (t) => {
    const { auth, user, logins, sids, clock, redis, key } = await withSessions(t, 2)
    clock.advance(1_000)
    t.equal((await auth.sessions.rotate(logins[0]!.token)).outcome, 'rotated')
    const listed = (await auth.sessions.list(user.id)).sessions
    t.same(listed.map((s) => s.sid), sids)
    t.equal(listed[0]!.last_refreshed_at, clock.now(), 'the refresh is recorded')
    t.equal(listed[1]!.last_refreshed_at, listed[1]!.created_at)
    t.same(await redis.zrange(key('sessions'), 0, -1), [sids[1], sids[0]], 'and the refreshed session is now the last to be ended at the cap')
  })

  t.test('logout, logout of the other sessions, DELETE of one', async (t) => {
    const opened = await withSessions(t, 4)
    const { auth, user, logins, sids } = opened
    await auth.sessions.end(await auth.verifier.verifyUser(logins[3]!.token), 'local')
    await t.rejects(auth.verifier.verify(logins[3]!.token), { code: 'TOKEN_REVOKED' })
    t.same(await sidsOf(opened, user.id), sids.slice(0, 3))

    const again = await toPreviousRelease(t, opened.env, user.id)
    t.equal(await again.redis.type(again.key('sessions')), 'set')
    t.equal(await auth.sessions.endOne(user.id, sids[2]!), true)
    t.same(await sidsOf(opened, user.id), sids.slice(0, 2))

    await toPreviousRelease(t, opened.env, user.id)
    await auth.sessions.end(await auth.verifier.verifyUser(logins[0]!.token), 'others')
    t.same(await sidsOf(opened, user.id), [sids[0]])
    await t.rejects(auth.verifier.verify(logins[1]!.token), { code: 'TOKEN_REVOKED' })
  })

  t.test('password change', async (t) => {
    const opened = await withSessions(t, 3)
    const { auth, user, logins, sids, clock } = opened
    await auth.sessions.changePassword(await auth.verifier.verifyUser(logins[1]!.token), 'correct horse battery', 'a brand new password')
    t.same(await sidsOf(opened, user.id), [sids[1]])
    clock.advance(1)
    t.equal((await auth.sessions.login(opened.email, 'a brand new password', { user_agent: '', ip: '' })).outcome, 'success')
  })

  t.test('a login at the cap trims an index that holds more than MAX_SESSIONS_PER_USER', async (t) => {
    const opened = await withSessions(t, 5)
    const { user, email, logins, sids, clock } = opened
    const lower = await openTestAuthWith(t, { ...opened.env, MAX_SESSIONS_PER_USER: '3' }, clock)
    const newest = await login(lower.auth, email)
    t.same(newest.evicted, sids.slice(0, 3), 'the three least recently refreshed end')
    for (const old of logins.slice(0, 3)) await t.rejects(lower.auth.verifier.verify(old.token), { code: 'TOKEN_REVOKED' })
    t.same(await sidsOf(lower, user.id), [...sids.slice(3), newest.sid])
  })
})

// Step 1 of revocations.db, as release 0.1 left the file (user_version 1).
const STEP_1 = `
CREATE TABLE sessions (sid TEXT PRIMARY KEY, sub TEXT NOT NULL, created_at INTEGER NOT NULL, last_refreshed_at INTEGER NOT NULL,
  auth_time INTEGER NOT NULL, user_agent TEXT NOT NULL, ip TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX sessions_by_sub ON sessions (sub);
CREATE TABLE revoked_tokens (jti TEXT PRIMARY KEY, state TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE client_epochs (client_id TEXT PRIMARY KEY, epoch INTEGER NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE rotation_grace (jti TEXT PRIMARY KEY, sealed_child TEXT NOT NULL, expires_at INTEGER NOT NULL);
PRAGMA user_version = 1;`

test('revocations.db of the previous release is migrated, its sessions kept (embedded)', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'jwt-auth-upgrade-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const clock = settableClock()
  const now = clock.now()
  const email = 'legacy@example.com'
  const users = createSqliteUserStore(dataDir)
  const user = await users.create({ name: 'Legacy', email, password_hash: await hashPassword(PASSWORD) }, toIso(now))
  await users.close()
  const old = new Database(join(dataDir, 'revocations.db'))
  old.exec(STEP_1)
  const insert = old.prepare('INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
  for (let i = 0; i < 5; i++) insert.run(`sid${i}`, user.id, now - 5_000 + i, now - 5_000 + i, Math.floor(now / 1000) - 5, 'old', '192.0.2.9', now + 60_000)
  // A client epoch of that release: whole seconds.
  old.prepare('INSERT INTO client_epochs VALUES (?, ?, ?)').run('legacy-client', Math.floor(now / 1000), now + 60_000)
  old.close()

  const opened = await openTestAuth(t, 'embedded', { DATA_DIR: dataDir, MAX_SESSIONS_PER_USER: '3' }, clock)
  const pages = [await opened.auth.sessions.list(user.id, { limit: 4 })]
  pages.push(await opened.auth.sessions.list(user.id, { limit: 4, cursor: pages[0]!.next_cursor! }))
  t.same(pages.flatMap((p) => p.sessions.map((s) => s.sid)), ['sid0', 'sid1', 'sid2', 'sid3', 'sid4'], 'the sessions are kept, and paged')

  const db = new Database(join(dataDir, 'revocations.db'), { readonly: true })
  t.teardown(() => db.close())
  t.equal(db.pragma('user_version', { simple: true }), 3)
  t.equal((db.prepare("SELECT epoch FROM client_epochs WHERE client_id = 'legacy-client'").get() as { epoch: number }).epoch, Math.floor(now / 1000) * 1e6, 'a client epoch in seconds becomes the same moment in µs')
  const indexes = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions' AND sql IS NOT NULL ORDER BY name").all() as { name: string }[]).map((row) => row.name)
  t.same(indexes, ['sessions_by_created', 'sessions_by_refreshed'])
  const plan = (sql: string) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((row) => row.detail).join('; ')
  t.match(plan('SELECT * FROM sessions WHERE sub = 1 AND expires_at > 1 AND (created_at, sid) > (1, 1) ORDER BY created_at, sid LIMIT 3'), /USING INDEX sessions_by_created/, 'a page reads the index, in order')
  t.notMatch(plan('SELECT * FROM sessions WHERE sub = 1 AND expires_at > 1 AND (created_at, sid) > (1, 1) ORDER BY created_at, sid LIMIT 3'), /TEMP B-TREE/, 'without sorting')
  t.match(plan('SELECT sid FROM sessions WHERE sub = 1 AND expires_at > 1 ORDER BY last_refreshed_at, sid LIMIT 1'), /USING INDEX sessions_by_refreshed/)

  // The previous release's sessions count towards the cap like any other: the first login trims them.
  const fresh = await login(opened.auth, email)
  t.same(fresh.evicted, ['sid0', 'sid1', 'sid2'])
  t.same(await sidsOf(opened, user.id), ['sid3', 'sid4', fresh.sid])
})
