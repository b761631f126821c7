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
  start(session: SessionRecord): Promise<void>
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
  /** The user's live sessions, oldest first. */
  list(sub: string, now: number): Promise<SessionRecord[]>
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
