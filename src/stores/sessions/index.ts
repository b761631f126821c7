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
  /**
   * The per-request check, one round trip: the token is neither rotated nor revoked, and its session is
   * live. `ending`: the token's own logout is written but not yet acknowledged (see `end`).
   */
  check(token: TokenRef, now: number): Promise<TokenStatus>
  /**
   * Rotates `parent` into the child sealed in `rotation.sealedChild`, exactly once and atomically, as
   * a *pending* rotation (`rotated`): the parent is refused from then on, but the rotation counts only
   * once `confirmRotation` has turned it into a rotated state, and `rollbackRotation` undoes it. A
   * pending rotation whose `pendingUntil` has passed is dead, as if it had never been written.
   * A parent rotated before gets its first child back while the grace lasts, and revokes its session
   * after that (reuse); a parent whose rotation is pending now gets `pending` (another request is
   * rotating it: ask again soon).
   */
  rotate(parent: TokenRef, rotation: Rotation): Promise<RotateResult>
  /** Turns exactly this attempt's pending rotation into the rotated state; false when it is no longer there. */
  confirmRotation(parent: TokenRef, rotation: Rotation): Promise<boolean>
  /** Undoes exactly this attempt's rotation, pending or confirmed, unless a repeat has handed its child out since. */
  rollbackRotation(parent: TokenRef, rotation: Rotation): Promise<void>
  /**
   * Revokes the token and ends its session, atomically. The token is marked as ending until
   * `confirmEnd`: refused everywhere, but a logout with it may be repeated (a retry after a 503).
   * Idempotent; a token already revoked stays revoked.
   */
  end(token: TokenRef, now: number): Promise<void>
  /** The end of `end` is acknowledged: the token is now simply revoked (a logout with it is 401). */
  confirmEnd(token: TokenRef): Promise<void>
  /**
   * DELETE /api/sessions/:id: ends one session of the user; false when it was not live. The end is
   * remembered until `end.pendingUntil` or `confirmEndOne`, so that a retry of an unacknowledged
   * end (a 503) repeats it and answers true.
   */
  endOne(sub: string, sid: string, end: { now: number; pendingUntil: number }): Promise<boolean>
  /** The end of `endOne` is acknowledged: a repeat now finds no such session. */
  confirmEndOne(sub: string, sid: string): Promise<void>
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
  /**
   * What the store holds for a token and its user, read only (for operators and tests): nothing here
   * decides a request. The answer says what a request would be refused on, and until when it is kept.
   */
  inspect(token: TokenRef, now: number): Promise<StoredTokenState>
}

export interface StoredTokenState {
  /** When the token's deny-list entry (rotated, ending or revoked) ends (ms); undefined when there is none. */
  deniedUntil: number | undefined
  /** Whether the token's session is live. */
  sessionLive: boolean
  /** The user's not-before (ms), and until when the store keeps it (ms); undefined when none is set. */
  notBefore: { at: number; keptUntil: number } | undefined
}

export interface Admission {
  /**
   * When the login began to check the credentials (ms, by the service's clock, read before the user
   * was looked up): a not-before at or after it refuses the session.
   */
  checkedAt: number
  /** MAX_SESSIONS_PER_USER: the most live sessions a user may hold once this one has started. */
  maxSessions: number
  /** The `jti` of the session's first token: its current token until a rotation is confirmed. */
  firstJti: string
}

export type StartResult =
  /**
   * `evicted`: the live sessions ended to stay within `maxSessions`, least recently refreshed first.
   * `generation` (Redis): the generation of the user's feed shard, which the session's tokens carry (claim `gen`).
   */
  | { outcome: 'started'; evicted: string[]; generation?: number }
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
  /** Redis: the generation it was issued in (claim `gen`); absent from tokens issued before generations existed (stores/not-before.ts). */
  gen?: number
}

/** `ending`: revoked, but its own logout is not yet acknowledged, so the logout accepts it for a retry. */
export type TokenStatus = 'active' | 'revoked' | 'ending'

/** Every session, or every one but `except`. */
export type SessionSelector = { all: true } | { except: string }

/** One attempt to rotate a token. */
export interface Rotation {
  /** The child token, sealed under a key only the parent's holder can derive (auth/refresh-seal.ts). */
  sealedChild: string
  /** How long, in milliseconds, a repeated refresh of the parent gets the same child. */
  graceMs: number
  now: number
  /** Decimal digits, random: names this attempt's states, so that its confirmation and rollback touch no other. */
  id: string
  /**
   * ms, the service's clock: by then the attempt has been confirmed or given up (REDIS_COMMAND_TIMEOUT_MS
   * + REDIS_WAIT_TIMEOUT_MS after `now`), so a pending state past it is dead: as if absent.
   */
  pendingUntil: number
  /**
   * ms: until when the parent may be refreshed, its `exp` plus REFRESH_AFTER_EXPIRY. Its rotated state lives
   * that long (so that a repeat within the grace, and a reuse, are told apart after its `exp` too); past its
   * `exp` it rotates only while it is still its session's current token.
   */
  usableUntil: number
  /** The child's `jti`: the session's current token once the rotation is confirmed. */
  childJti: string
}

export type RotateResult =
  /** Written as pending: confirm it (or roll it back) next. */
  | { outcome: 'rotated' }
  /** Rotated before, within the grace: here is the same child, still sealed. */
  | { outcome: 'repeated'; sealedChild: string }
  /**
   * Rotated before, after the grace: the session has now been revoked. `acknowledged` false: too few
   * replicas hold that revocation yet (the request gets 503, but the reuse is reported).
   */
  | { outcome: 'reused'; acknowledged: boolean }
  /** Logged out, or its session is gone. */
  | { outcome: 'revoked' }
  /** Another request is rotating this token right now: ask again (it is confirmed or gone within its bound). */
  | { outcome: 'pending' }
