import type { SessionRecord } from '../../schemas/sessions.js'
import type { RevocationDatabase } from '../revocation-database.js'
import { ENDING, encodeTokenState, pendingState, REVOKED, rotatedState, tokenStateAt } from './token-state.js'
import { type Admission, type NotBefore, type RotateResult, type Rotation, type SessionSelector, type SessionStore, type StartResult, type TokenStatus } from './index.js'

/**
 * The embedded session store: the same semantics as Redis, in the revocation database's tables (one
 * IMMEDIATE transaction per step). A commit is acknowledged as it happens, so a step that fails leaves
 * nothing behind: pending rotations and ending tokens only live between two steps of one request here,
 * and an end of one session (endOne) needs no marker.
 */
export function createSqliteSessionStore({ db, guard }: RevocationDatabase): SessionStore {
  const insertSession = db.prepare(
    `INSERT OR REPLACE INTO sessions (sid, sub, created_at, last_refreshed_at, auth_time, user_agent, ip, expires_at, current_jti)
     VALUES (@sid, @sub, @created_at, @last_refreshed_at, @auth_time, @user_agent, @ip, @expires_at, @current_jti)`
  )
  const liveSession = db.prepare<[string, string, number], { sid: string }>(
    'SELECT sid FROM sessions WHERE sid = ? AND sub = ? AND expires_at > ?'
  )
  const tokenState = db.prepare<[string, number], { state: string }>('SELECT state FROM revoked_tokens WHERE jti = ? AND expires_at > ?')
  const graceChild = db.prepare<[string, number], { sealed_child: string }>(
    'SELECT sealed_child FROM rotation_grace WHERE jti = ? AND expires_at > ?'
  )
  const setTokenState = db.prepare('INSERT OR REPLACE INTO revoked_tokens (jti, state, expires_at) VALUES (?, ?, ?)')
  const replaceTokenState = db.prepare('UPDATE revoked_tokens SET state = ? WHERE jti = ? AND state = ?')
  const deleteTokenState = db.prepare('DELETE FROM revoked_tokens WHERE jti = ? AND state IN (?, ?)')
  const deleteGrace = db.prepare('DELETE FROM rotation_grace WHERE jti = ?')
  const setGrace = db.prepare('INSERT OR REPLACE INTO rotation_grace (jti, sealed_child, expires_at) VALUES (?, ?, ?)')
  const touchSession = db.prepare('UPDATE sessions SET last_refreshed_at = ? WHERE sid = ?')
  const currentOf = db.prepare<[string], { current_jti: string | null }>('SELECT current_jti FROM sessions WHERE sid = ?')
  const setCurrent = db.prepare('UPDATE sessions SET current_jti = ? WHERE sid = ?')
  const deleteSession = db.prepare('DELETE FROM sessions WHERE sid = ?')
  // One page in (created_at, sid) order, after the cursor: sessions_by_created, then LIMIT.
  const pageOf = db.prepare<[string, number, number, string, number], SessionRecord>(
    `SELECT sid, sub, auth_time, expires_at, created_at, last_refreshed_at, user_agent, ip
     FROM sessions WHERE sub = ? AND expires_at > ? AND (created_at, sid) > (?, ?)
     ORDER BY created_at, sid LIMIT ?`
  )
  const deleteAll = db.prepare('DELETE FROM sessions WHERE sub = ? AND expires_at > ?')
  const deleteExcept = db.prepare('DELETE FROM sessions WHERE sub = ? AND expires_at > ? AND sid <> ?')
  const deleteOnly = db.prepare('DELETE FROM sessions WHERE sub = ? AND expires_at > ? AND sid = ?')
  const notBeforeOf = db.prepare<[string], { not_before: number }>('SELECT not_before FROM user_not_before WHERE sub = ?')
  const storedNotBefore = db.prepare<[string], { not_before: number; expires_at: number }>('SELECT not_before, expires_at FROM user_not_before WHERE sub = ?')
  const tokenEntry = db.prepare<[string, number], { expires_at: number }>('SELECT expires_at FROM revoked_tokens WHERE jti = ? AND expires_at > ?')
  // The not-before only moves forward; it is kept at least until `expires_at`.
  const raiseNotBefore = db.prepare(
    `INSERT INTO user_not_before (sub, not_before, expires_at) VALUES (?, ?, ?)
     ON CONFLICT (sub) DO UPDATE SET not_before = max(not_before, excluded.not_before), expires_at = max(expires_at, excluded.expires_at)`
  )
  const liveCount = db.prepare<[string, number], { live: number }>('SELECT count(*) AS live FROM sessions WHERE sub = ? AND expires_at > ?')
  // The least recently refreshed live sessions: sessions_by_refreshed, then LIMIT.
  const leastRecentlyRefreshed = db.prepare<[string, number, number], { sid: string }>(
    'SELECT sid FROM sessions WHERE sub = ? AND expires_at > ? ORDER BY last_refreshed_at, sid LIMIT ?'
  )

  const rotate = db.transaction((jti: string, sid: string, sub: string, expMs: number, rotation: Rotation): RotateResult => {
    const { now, graceMs, usableUntil } = rotation
    if (usableUntil <= now) return { outcome: 'revoked' }
    const stored = tokenState.get(jti, now)?.state
    const state = tokenStateAt(stored, now)
    if (state?.kind === 'pending') return { outcome: 'pending' }
    const sessionAlive = liveSession.get(sid, sub, now) !== undefined
    if (state?.kind === 'rotated' && sessionAlive) {
      if (now < state.graceEnds) {
        const child = graceChild.get(jti, now)?.sealed_child
        // No child within the grace: REFRESH_GRACE=0 and a request that began before the rotation.
        if (child === undefined) return { outcome: 'revoked' }
        // Handed out from now on: no rollback may undo this rotation.
        replaceTokenState.run(encodeTokenState({ kind: 'rotated', graceEnds: state.graceEnds }), jti, stored)
        return { outcome: 'repeated', sealedChild: child }
      }
      deleteSession.run(sid)
      return { outcome: 'reused', acknowledged: true }
    }
    if (state !== undefined || !sessionAlive) return { outcome: 'revoked' }
    // Past its exp (REFRESH_AFTER_EXPIRY), only the session's current token rotates (as rotate.lua).
    if (now >= expMs && currentOf.get(sid)?.current_jti !== jti) return { outcome: 'revoked' }
    setTokenState.run(jti, pendingState(rotation), usableUntil)
    if (graceMs > 0) setGrace.run(jti, rotation.sealedChild, rotation.pendingUntil + graceMs)
    else deleteGrace.run(jti)
    touchSession.run(now, sid)
    return { outcome: 'rotated' }
  })
  const rollbackRotation = db.transaction((jti: string, rotation: Rotation) => {
    if (deleteTokenState.run(jti, pendingState(rotation), rotatedState(rotation)).changes > 0) deleteGrace.run(jti)
  })
  const end = db.transaction((jti: string, sid: string, expMs: number, now: number) => {
    if (tokenState.get(jti, now)?.state !== REVOKED) setTokenState.run(jti, ENDING, expMs)
    deleteSession.run(sid)
  })
  const confirm = db.transaction((jti: string, sid: string, rotation: Rotation): boolean => {
    if (replaceTokenState.run(rotatedState(rotation), jti, pendingState(rotation)).changes === 0) return false
    setCurrent.run(rotation.childJti, sid)
    return true
  })
  const start = db.transaction((session: SessionRecord, { checkedAt, maxSessions, firstJti }: Admission): StartResult => {
    const notBefore = notBeforeOf.get(session.sub)?.not_before
    if (notBefore !== undefined && notBefore >= checkedAt) return { outcome: 'refused' }
    const now = session.created_at
    const excess = liveCount.get(session.sub, now)!.live - maxSessions + 1
    const evicted = excess > 0 ? leastRecentlyRefreshed.all(session.sub, now, excess).map((row) => row.sid) : []
    for (const sid of evicted) deleteSession.run(sid)
    insertSession.run({ ...session, current_jti: firstJti })
    return { outcome: 'started', evicted }
  })
  const endMany = (sub: string, which: SessionSelector, now: number): number =>
    'all' in which ? deleteAll.run(sub, now).changes : deleteExcept.run(sub, now, which.except).changes
  const endAndSetNotBefore = db.transaction((sub: string, which: { all: true } | { except: string }, { at, keepMs }: NotBefore): number => {
    const ended = endMany(sub, which, at)
    raiseNotBefore.run(sub, at, at + keepMs)
    return ended
  })

  return {
    async start(session, admission) {
      return guard(() => start.immediate(session, admission))
    },
    async check({ sub, sid, jti }, now) {
      return guard((): TokenStatus => {
        const state = tokenStateAt(tokenState.get(jti, now)?.state, now)
        if (state !== undefined) return state.kind === 'ending' ? 'ending' : 'revoked'
        return liveSession.get(sid, sub, now) !== undefined ? 'active' : 'revoked'
      })
    },
    async rotate({ sub, sid, jti, exp }, rotation) {
      return guard(() => rotate.immediate(jti, sid, sub, exp * 1000, rotation))
    },
    async confirmRotation({ jti, sid }, rotation) {
      return guard(() => confirm.immediate(jti, sid, rotation))
    },
    async rollbackRotation({ jti }, rotation) {
      guard(() => rollbackRotation.immediate(jti, rotation))
    },
    async end({ sid, jti, exp }, now) {
      guard(() => end.immediate(jti, sid, exp * 1000, now))
    },
    async confirmEnd({ jti }) {
      guard(() => replaceTokenState.run(REVOKED, jti, ENDING))
    },
    async endOne(sub, sid, { now }) {
      return guard(() => deleteOnly.run(sub, now, sid).changes > 0)
    },
    async confirmEndOne() {},
    async endMany(sub, which, now) {
      return guard(() => endMany(sub, which, now))
    },
    async endSessionsAndSetNotBefore(sub, which, notBefore) {
      return guard(() => endAndSetNotBefore.immediate(sub, which, notBefore))
    },
    async list(sub, { limit, after }, now) {
      const rows = guard(() => pageOf.all(sub, now, after?.created_at ?? Number.MIN_SAFE_INTEGER, after?.sid ?? '', limit + 1))
      return { sessions: rows.slice(0, limit), more: rows.length > limit }
    },
    async inspect({ sub, sid, jti }, now) {
      return guard(() => {
        const notBefore = storedNotBefore.get(sub)
        return {
          deniedUntil: tokenEntry.get(jti, now)?.expires_at,
          sessionLive: liveSession.get(sid, sub, now) !== undefined,
          notBefore: notBefore === undefined ? undefined : { at: notBefore.not_before, keptUntil: notBefore.expires_at }
        }
      })
    }
  }
}
