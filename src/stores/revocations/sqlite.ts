import { StoreUnavailableError } from '../../errors.js'
import { openSqlite } from '../sqlite-database.js'
import type { RevocationStore, RotateResult } from './index.js'

const SCHEMA = `
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
  epoch      INTEGER NOT NULL,  -- seconds
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rotation_grace (
  jti          TEXT PRIMARY KEY,
  sealed_child TEXT NOT NULL,
  expires_at   INTEGER NOT NULL
);`

const PURGE_EVERY_MS = 60_000

/**
 * The embedded revocation store: the same semantics as Redis, in a SQLite file under DATA_DIR.
 * Rows past their expiry are ignored by every query and purged once a minute.
 * Each operation is one IMMEDIATE transaction, so it is atomic even across processes sharing the file.
 */
export function createSqliteRevocationStore(dataDir: string): RevocationStore {
  const db = openSqlite(dataDir, 'revocations.db')
  db.exec(SCHEMA)

  const insertSession = db.prepare(
    `INSERT OR REPLACE INTO sessions (sid, sub, created_at, last_refreshed_at, auth_time, user_agent, ip, expires_at)
     VALUES (@sid, @sub, @createdAt, @createdAt, @authTime, @userAgent, @ip, @expiresAt)`
  )
  const liveSession = db.prepare<[string, string, number], { sid: string }>(
    'SELECT sid FROM sessions WHERE sid = ? AND sub = ? AND expires_at > ?'
  )
  const tokenState = db.prepare<[string, number], { state: string }>(
    'SELECT state FROM revoked_tokens WHERE jti = ? AND expires_at > ?'
  )
  const graceChild = db.prepare<[string, number], { sealed_child: string }>(
    'SELECT sealed_child FROM rotation_grace WHERE jti = ? AND expires_at > ?'
  )
  const setTokenState = db.prepare('INSERT OR REPLACE INTO revoked_tokens (jti, state, expires_at) VALUES (?, ?, ?)')
  const setGrace = db.prepare('INSERT OR REPLACE INTO rotation_grace (jti, sealed_child, expires_at) VALUES (?, ?, ?)')
  const touchSession = db.prepare('UPDATE sessions SET last_refreshed_at = ? WHERE sid = ?')
  const deleteSession = db.prepare('DELETE FROM sessions WHERE sid = ?')
  const purge = db.transaction((now: number) => {
    for (const table of ['sessions', 'revoked_tokens', 'rotation_grace', 'client_epochs']) {
      db.prepare(`DELETE FROM ${table} WHERE expires_at <= ?`).run(now)
    }
  })

  const rotate = db.transaction(
    (jti: string, sid: string, sub: string, expMs: number, sealedChild: string, graceMs: number, now: number): RotateResult => {
      const state = tokenState.get(jti, now)?.state
      const sessionAlive = liveSession.get(sid, sub, now) !== undefined
      if (state === 'x' && sessionAlive) {
        const child = graceChild.get(jti, now)?.sealed_child
        if (child !== undefined) return { outcome: 'repeated', sealedChild: child }
        deleteSession.run(sid)
        return { outcome: 'reused' }
      }
      if (state !== undefined || !sessionAlive) return { outcome: 'revoked' }
      setTokenState.run(jti, 'x', expMs)
      if (graceMs > 0) setGrace.run(jti, sealedChild, now + graceMs)
      touchSession.run(now, sid)
      return { outcome: 'rotated' }
    }
  )
  const sessionsOf = db.prepare<[string, number], { sid: string; createdAt: number; lastRefreshedAt: number; userAgent: string; ip: string }>(
    `SELECT sid, created_at AS createdAt, last_refreshed_at AS lastRefreshedAt, user_agent AS userAgent, ip
     FROM sessions WHERE sub = ? AND expires_at > ? ORDER BY created_at`
  )
  const deleteAll = db.prepare('DELETE FROM sessions WHERE sub = ? AND expires_at > ?')
  const deleteExcept = db.prepare('DELETE FROM sessions WHERE sub = ? AND expires_at > ? AND sid <> ?')
  const deleteOnly = db.prepare('DELETE FROM sessions WHERE sub = ? AND expires_at > ? AND sid = ?')
  const keepEpoch = db.prepare(
    `INSERT INTO client_epochs (client_id, epoch, expires_at) VALUES (@clientId, @epoch, @until)
     ON CONFLICT (client_id) DO UPDATE SET
       epoch = CASE WHEN client_epochs.expires_at > @now THEN client_epochs.epoch ELSE excluded.epoch END,
       expires_at = MAX(CASE WHEN client_epochs.expires_at > @now THEN client_epochs.expires_at ELSE 0 END, excluded.expires_at)`
  )
  const clientEpoch = db.prepare<[string, number], { epoch: number }>('SELECT epoch FROM client_epochs WHERE client_id = ? AND expires_at > ?')
  const forgetEpoch = db.prepare('DELETE FROM client_epochs WHERE client_id = ?')
  const endSession = db.transaction((jti: string, sid: string, expMs: number) => {
    setTokenState.run(jti, 'r', expMs)
    deleteSession.run(sid)
  })

  const purgeTimer = setInterval(() => {
    try {
      purge(Date.now())
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
    async startSession(session) {
      guard(() => insertSession.run(session))
    },
    async check({ sub, sid, jti }) {
      const now = Date.now()
      return guard(() =>
        tokenState.get(jti, now) === undefined && liveSession.get(sid, sub, now) !== undefined ? 'active' : 'revoked'
      )
    },
    async rotate({ sub, sid, jti, exp }, { sealedChild, graceMs, now }) {
      return guard(() => rotate.immediate(jti, sid, sub, exp * 1000, sealedChild, graceMs, now))
    },
    async endSession({ sid, jti, exp }) {
      guard(() => endSession.immediate(jti, sid, exp * 1000))
    },
    async endSessions(sub, which) {
      const now = Date.now()
      return guard(() => {
        if ('all' in which) return deleteAll.run(sub, now).changes
        if ('except' in which) return deleteExcept.run(sub, now, which.except).changes
        return deleteOnly.run(sub, now, which.only).changes
      })
    },
    async listSessions(sub) {
      return guard(() => sessionsOf.all(sub, Date.now()))
    },
    async keepClientEpoch(clientId, until) {
      const now = Date.now()
      guard(() => keepEpoch.run({ clientId, epoch: Math.floor(now / 1000), until, now }))
    },
    async checkClientToken({ client_id, jti, iat }) {
      const now = Date.now()
      return guard(() => {
        if (tokenState.get(jti, now) !== undefined) return 'revoked'
        const epoch = clientEpoch.get(client_id, now)?.epoch
        return epoch !== undefined && epoch <= iat ? 'active' : 'revoked'
      })
    },
    async revokeClientToken({ jti, exp }) {
      guard(() => setTokenState.run(jti, 'r', exp * 1000))
    },
    async forgetClient(clientId) {
      guard(() => forgetEpoch.run(clientId))
    },
    async ping() {
      guard(() => db.prepare('SELECT 1').get())
    },
    async close() {
      clearInterval(purgeTimer)
      db.close()
    }
  }
}
