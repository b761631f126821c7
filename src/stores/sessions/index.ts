import type { SessionRecord } from '../../schemas/sessions.js'

/**
 * The session store: which sessions are alive, and the rotation state of the tokens issued in them.
 * Backends: `redis.ts` (production: one Redis, Cluster or Sentinel) and `sqlite.ts` (embedded default).
 *
 * Sessions are an allow-list: a token is accepted only while its session record exists. So a store
 * that comes back without its data (restart without persistence, flush) refuses every token issued
 * before the loss instead of re-admitting revoked ones, and a new login works at once.
 * Token ids that were rotated or revoked are a deny-list whose entries expire with the token.
 *
 * Time: every decision compares stored times with the `now` the caller passes (the service's clock);
 * expiry in the backend (Redis TTLs, purged rows) only collects garbage.
 * Every method throws StoreUnavailableError when the store cannot answer: callers fail closed.
 */
export interface SessionStore {
  /**
   * Starts a session, atomically with two decisions: it is refused when the user's not-before is at or
   * after `admission.checkedAt` (the credentials it was granted on may have changed since), and when
   * the user already has `maxSessions` live sessions, the least recently refreshed ones are ended first.
   */
  start(session: SessionRecord, admission: Admission): Promise<StartResult>
  /** The per-request check, one round trip: the token is neither rotated nor revoked, and its session is live. */
  check(token: TokenRef, now: number): Promise<TokenStatus>
  /**
   * Rotates `parent` into the child sealed in `rotation.sealedChild`, exactly once and atomically.
   * A parent rotated before gets its first child back while the grace lasts, and revokes its
   * session after that (reuse).
   */
  rotate(parent: TokenRef, rotation: Rotation): Promise<RotateResult>
  /** Revokes the token and ends its session, atomically. */
  end(token: TokenRef, now: number): Promise<void>
  /** Ends several sessions of one user at once, atomically; returns how many were alive. */
  endMany(sub: string, which: SessionSelector, now: number): Promise<number>
  /**
   * Ends the user's sessions (every one, or every one but `except`) and raises the user's not-before
   * to `notBefore.at`, in one atomic step: from then on no session starts on credentials checked at or
   * before that time (see `start`). Password change and global logout; returns how many were alive.
   */
  endSessionsAndSetNotBefore(sub: string, which: { all: true } | { except: string }, notBefore: NotBefore): Promise<number>
  /**
   * One page of the user's live sessions, in the order of (created_at, sid): the first `limit` after
   * `after` (from the start without it); `more` when live sessions follow the page.
   */
  list(sub: string, page: PageRequest, now: number): Promise<{ sessions: SessionRecord[]; more: boolean }>
}

export interface Admission {
  /**
   * When the login began to check the credentials (ms, by the service's clock, read before the user
   * was looked up): a not-before at or after it refuses the session.
   */
  checkedAt: number
  /** MAX_SESSIONS_PER_USER: the most live sessions a user may hold once this one has started. */
  maxSessions: number
}

export type StartResult =
  /** `evicted`: the live sessions ended to stay within `maxSessions`, least recently refreshed first. */
  | { outcome: 'started'; evicted: string[] }
  /** The user's not-before is at or after `checkedAt`: nothing was written. */
  | { outcome: 'refused' }

export interface NotBefore {
  /** ms, the service's clock; the not-before never moves back. */
  at: number
  /** ms: how long after `at` the not-before must still be kept (SESSION_TTL); the store only collects it after that. */
  keepMs: number
}

export interface PageRequest {
  /** 1 or more. */
  limit: number
  /** The (created_at, sid) of the last session of the previous page. */
  after?: { created_at: number; sid: string }
}

/** What the store needs to know of a user token. */
export interface TokenRef {
  sub: string
  sid: string
  jti: string
  /** Expiry in seconds (the `exp` claim): the deny-list entry lives exactly this long. */
  exp: number
}

export type TokenStatus = 'active' | 'revoked'

/** Every session, every one but `except`, or only `only`. */
export type SessionSelector = { all: true } | { except: string } | { only: string }

export interface Rotation {
  /** The child token, sealed under a key only the parent's holder can derive (auth/refresh-seal.ts). */
  sealedChild: string
  /** How long, in milliseconds, a repeated refresh of the parent gets the same child. */
  graceMs: number
  now: number
}

export type RotateResult =
  | { outcome: 'rotated' }
  /** Rotated before, within the grace: here is the same child, still sealed. */
  | { outcome: 'repeated'; sealedChild: string }
  /** Rotated before, after the grace: the session has now been revoked. */
  | { outcome: 'reused' }
  /** Logged out, or its session is gone. */
  | { outcome: 'revoked' }
