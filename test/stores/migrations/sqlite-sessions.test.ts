/**
 * The embedded revocations.db at user_version 1 (its first schema) is migrated by the versioned steps
 * (src/stores/migrations), its sessions kept.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Database } from '../../../src/stores/sqlite-driver.js'
import { test } from 'tap'
import { settableClock, toIso } from '../../../src/auth/clock.js'
import { hashPassword } from '../../../src/auth/passwords.js'
import { createSqliteUserStore } from '../../../src/stores/users/sqlite.js'
import { login, openTestAuth, PASSWORD, type TestAuth } from '../../auth/support.js'

const sidsOf = async ({ auth }: TestAuth, sub: string) => (await auth.sessions.list(sub)).sessions.map((s) => s.sid)

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
  t.equal(db.pragma('user_version', { simple: true }), 5)
  t.equal((db.prepare("SELECT current_jti FROM sessions WHERE sid = 'sid0'").get() as { current_jti: string | null }).current_jti, null, 'a session of an older release has no current token: its tokens are not refreshed after their exp')
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
