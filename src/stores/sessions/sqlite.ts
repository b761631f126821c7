import type { SessionRecord } from '../../schemas/sessions.js'
import type { RevocationDatabase } from '../revocation-database.js'
import type { RotateResult, SessionStore } from './index.js'

/** The embedded session store: the same semantics as Redis, in the revocation database's tables. */
export function createSqliteSessionStore({ db, guard }: RevocationDatabase): SessionStore {
  const insertSession = db.prepare(
    `INSERT OR REPLACE INTO sessions (sid, sub, created_at, last_refreshed_at, auth_time, user_agent, ip, expires_at)
     VALUES (@sid, @sub, @created_at, @last_refreshed_at, @auth_time, @user_agent, @ip, @expires_at)`
  )
  const liveSession = db.prepare<[string, string, number], { sid: string }>(
    'SELECT sid FROM sessions WHERE sid = ? AND sub = ? AND expires_at > ?'
  )
  const tokenState = db.prepare<[string, number], { state: string }>('SELECT state FROM revoked_tokens WHERE jti = ? AND expires_at > ?')
  const graceChild = db.prepare<[string, number], { sealed_child: string }>(
    'SELECT sealed_child FROM rotation_grace WHERE jti = ? AND expires_at > ?'
  )
  const setTokenState = db.prepare('INSERT OR REPLACE INTO revoked_tokens (jti, state, expires_at) VALUES (?, ?, ?)')
  const setGrace = db.prepare('INSERT OR REPLACE INTO rotation_grace (jti, sealed_child, expires_at) VALUES (?, ?, ?)')
  const touchSession = db.prepare('UPDATE sessions SET last_refreshed_at = ? WHERE sid = ?')
  const deleteSession = db.prepare('DELETE FROM sessions WHERE sid = ?')
  const sessionsOf = db.prepare<[string, number], SessionRecord>(
    `SELECT sid, sub, auth_time, expires_at, created_at, last_refreshed_at, user_agent, ip
     FROM sessions WHERE sub = ? AND expires_at > ? ORDER BY created_at`
  )
  const deleteAll = db.prepare('DELETE FROM sessions WHERE sub = ? AND expires_at > ?')
  const deleteExcept = db.prepare('DELETE FROM sessions WHERE sub = ? AND expires_at > ? AND sid <> ?')
  const deleteOnly = db.prepare('DELETE FROM sessions WHERE sub = ? AND expires_at > ? AND sid = ?')

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
  const end = db.transaction((jti: string, sid: string, expMs: number) => {
    setTokenState.run(jti, 'r', expMs)
    deleteSession.run(sid)
  })

  return {
    async start(session) {
      guard(() => insertSession.run(session))
    },
    async check({ sub, sid, jti }, now) {
      return guard(() => (tokenState.get(jti, now) === undefined && liveSession.get(sid, sub, now) !== undefined ? 'active' : 'revoked'))
    },
    async rotate({ sub, sid, jti, exp }, { sealedChild, graceMs, now }) {
      return guard(() => rotate.immediate(jti, sid, sub, exp * 1000, sealedChild, graceMs, now))
    },
    async end({ sid, jti, exp }) {
      guard(() => end.immediate(jti, sid, exp * 1000))
    },
    async endMany(sub, which, now) {
      return guard(() => {
        if ('all' in which) return deleteAll.run(sub, now).changes
        if ('except' in which) return deleteExcept.run(sub, now, which.except).changes
        return deleteOnly.run(sub, now, which.only).changes
      })
    },
    async list(sub, now) {
      return guard(() => sessionsOf.all(sub, now))
    }
  }
}
