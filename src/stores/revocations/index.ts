/**
 * The revocation store: which sessions are alive and which token ids are revoked.
 * Backends: `redis.ts` (production, one Redis, Cluster or Sentinel) and `sqlite.ts` (embedded default).
 *
 * Sessions are an allow-list: a token is accepted only while its session record exists. So a store
 * that comes back without its data (restart without persistence, flush) refuses every token issued
 * before the loss instead of re-admitting revoked ones, and a new login works at once.
 * Revoked token ids are a deny-list whose entries expire with the token they revoke.
 *
 * Every method throws StoreUnavailableError when the store cannot answer: callers fail closed.
 */
export interface RevocationStore {
  startSession(session: NewSession): Promise<void>
  /** The per-request check: one round trip. */
  check(token: TokenRef): Promise<TokenStatus>
  /**
   * Rotates `parent` into the child sealed in `sealedChild`, exactly once and atomically.
   * A parent rotated before gets its first child back while the grace lasts, and revokes its
   * session after that (reuse).
   */
  rotate(parent: TokenRef, rotation: Rotation): Promise<RotateResult>
  /** Logout: revokes the token and ends its session. */
  endSession(token: TokenRef): Promise<void>
  /**
   * Ends several sessions of one user at once (logout scopes, password change, DELETE /api/sessions/:id),
   * atomically; returns how many were alive.
   */
  endSessions(sub: string, which: SessionSelector): Promise<number>
  /** The user's live sessions, oldest first. */
  listSessions(sub: string): Promise<SessionRecord[]>

  /**
   * Client tokens have no session; instead the store keeps, per client, the second from which it has
   * tracked the client's revocations (its epoch), created by the first grant. A token issued before the
   * epoch (the store lost its data, or the client was deleted) is refused.
   * Called on every grant: keeps the epoch alive until `until` (ms), the new token's expiry.
   */
  keepClientEpoch(clientId: string, until: number): Promise<void>
  checkClientToken(token: ClientTokenRef): Promise<TokenStatus>
  revokeClientToken(token: ClientTokenRef): Promise<void>
  /** Every token of the client is refused from now on (the client was deleted). */
  forgetClient(clientId: string): Promise<void>

  ping(): Promise<void>
  close(): Promise<void>
}

export interface ClientTokenRef {
  client_id: string
  jti: string
  /** Seconds, as the claims have them. */
  iat: number
  exp: number
}

/** What the store needs to know of a token: its owner, session, id and expiry. */
export interface TokenRef {
  sub: string
  sid: string
  jti: string
  /** Expiry, in seconds since the epoch (the `exp` claim). */
  exp: number
}

export interface NewSession {
  sub: string
  sid: string
  /** When the session began, in seconds (the `auth_time` claim). */
  authTime: number
  /** When the session ends for good, in milliseconds: auth_time + SESSION_TTL. */
  expiresAt: number
  createdAt: number
  userAgent: string
  ip: string
}

export type TokenStatus = 'active' | 'revoked'

/** Every session, every one but `except`, or only `only`. */
export type SessionSelector = { all: true } | { except: string } | { only: string }

export interface SessionRecord {
  sid: string
  /** Milliseconds since the epoch. */
  createdAt: number
  lastRefreshedAt: number
  userAgent: string
  ip: string
}

export interface Rotation {
  /** The child token, sealed under a key only the parent's holder can derive (see sessions/rotation-seal.ts). */
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
