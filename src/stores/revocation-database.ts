import type Database from 'better-sqlite3'
import { StoreUnavailableError } from '../errors.js'
import type { SqliteStep } from './migrations/sqlite.js'
import { openSqlite } from './sqlite-database.js'

/**
 * The embedded session and client-token stores share one SQLite file, `revocations.db` under DATA_DIR.
 * Step 1 is the schema of release 0.1 (IF NOT EXISTS, so that its files, at user_version 0, are adopted).
 * Step 2: the users' not-before (sessions/sqlite.ts: start refuses credentials checked at or before it),
 * and indexes for the listing order (sub, created_at, sid) and for ending the least recently refreshed
 * session at MAX_SESSIONS_PER_USER (sub, last_refreshed_at, sid); the first replaces sessions_by_sub.
 * Step 3: client epochs become markers in µs (not-before.ts); an epoch in seconds is the same moment
 * times a million. Step 5: single-use values (single-use/sqlite.ts).
 */
const STEPS: SqliteStep[] = [{ version: 1, name: 'sessions, revoked tokens, client epochs, rotation grace', up: `
CREATE TABLE IF NOT EXISTS sessions (
  sid               TEXT PRIMARY KEY,
  sub               TEXT NOT NULL,
  created_at        INTEGER NOT NULL,
  last_refreshed_at INTEGER NOT NULL,
  auth_time         INTEGER NOT NULL,
  user_agent        TEXT NOT NULL,
  ip                TEXT NOT NULL,
  expires_at        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_sub ON sessions (sub);
CREATE TABLE IF NOT EXISTS revoked_tokens (
  jti        TEXT PRIMARY KEY,
  state      TEXT NOT NULL,   -- 'r' revoked, 'x' rotated
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS client_epochs (
  client_id  TEXT PRIMARY KEY,
  epoch      INTEGER NOT NULL,  -- seconds; µs from step 3
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rotation_grace (
  jti          TEXT PRIMARY KEY,
  sealed_child TEXT NOT NULL,
  expires_at   INTEGER NOT NULL
);` }, { version: 2, name: 'user not-before, session indexes for paging and the per-user cap', up: `
CREATE TABLE user_not_before (
  sub        TEXT PRIMARY KEY,
  not_before INTEGER NOT NULL,  -- ms
  expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_created ON sessions (sub, created_at, sid);
CREATE INDEX sessions_by_refreshed ON sessions (sub, last_refreshed_at, sid);
DROP INDEX IF EXISTS sessions_by_sub;` }, { version: 3, name: 'client epochs as markers in microseconds', up: `
UPDATE client_epochs SET epoch = epoch * 1000000 WHERE epoch < 100000000000;` }, { version: 4, name: "sessions: the current token's jti (a refresh after expiry)", up: `
ALTER TABLE sessions ADD COLUMN current_jti TEXT;` }, { version: 5, name: 'single-use values (client assertions)', up: `
CREATE TABLE used_once (
  scope      TEXT NOT NULL,
  value      TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (scope, value)
);` }]

const PURGE_EVERY_MS = 60_000
const TABLES = ['sessions', 'revoked_tokens', 'rotation_grace', 'client_epochs', 'user_not_before', 'used_once']

export interface RevocationDatabase {
  db: Database.Database
  /** Runs `work`; a failure of the file or disk is StoreUnavailableError (503). */
  guard<T>(work: () => T): T
  ping(): Promise<void>
  close(): Promise<void>
}

/**
 * Opens the file. Rows past their `expires_at` are ignored by every query (which is handed `now`) and
 * purged once a minute, by the same clock (`now`, the service's). Each write is one IMMEDIATE transaction, so it is atomic
 * even across processes that share the file.
 */
export function openRevocationDatabase(dataDir: string, now: () => number): RevocationDatabase {
  const db = openSqlite(dataDir, 'revocations.db', STEPS)
  const purge = db.transaction((now: number) => {
    for (const table of TABLES) db.prepare(`DELETE FROM ${table} WHERE expires_at <= ?`).run(now)
  })
  const purgeTimer = setInterval(() => {
    try {
      purge(now())
    } catch {
      // A busy or broken file: expired rows are ignored by every query anyway; try again next round.
    }
  }, PURGE_EVERY_MS)
  purgeTimer.unref()

  function guard<T>(work: () => T): T {
    try {
      return work()
    } catch (error) {
      throw new StoreUnavailableError('revocation', error)
    }
  }

  return {
    db,
    guard,
    async ping() {
      guard(() => db.prepare('SELECT 1').get())
    },
    async close() {
      clearInterval(purgeTimer)
      db.close()
    }
  }
}
