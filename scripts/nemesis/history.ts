/**
 * What the nemesis records: every request it sent, when (its own monotonic clock, ms), and how it was
 * answered; every token it was handed; every fault it injected. The checker reads nothing else.
 */

/** Where a verification was asked, and how soon it must see a revocation (ms after the revoking call's answer). */
export interface Target {
  name: string
  /** 0 for a strict instance (at once); REVOCATION_MAX_LAG_MS for a replica or a library. */
  boundMs: number
}

export type OpKind = 'register' | 'login' | 'refresh' | 'logout' | 'password' | 'grant' | 'revoke' | 'rotate' | 'verify'

export interface Op {
  id: number
  kind: OpKind
  /** The process asked (an instance, a library, or `admin` for the clients' registry). */
  target: string
  sentAt: number
  /** Undefined while in flight; the time the answer (or the failure) came. */
  answeredAt?: number
  /** The HTTP status; 0 when no answer came (a timeout, a connection cut). */
  status?: number
  code?: string
  /** The token presented (its jti). */
  token?: string
  /** The token handed out (its jti), for login, refresh and grant. */
  produced?: string
  user?: string
  client?: string
  /** A 503 without Retry-After (the contract asks for one). */
  noRetryAfter?: boolean
}

export interface TokenRecord {
  jti: string
  kind: 'user' | 'client'
  /** The user's id, or the client's. */
  owner: string
  /** Its session (user tokens). */
  sid?: string
  /** ms since the epoch (the claim), to tell an expired token apart. */
  expMs: number
  /** The op that produced it. */
  issuedBy: number
}

export interface Fault {
  kind: 'pause' | 'kill' | 'flush'
  target: string
  startedAt: number
  endedAt?: number
}

export interface History {
  seed: number
  durationS: number
  targets: Target[]
  ops: Op[]
  tokens: TokenRecord[]
  faults: Fault[]
  /** performance.now() minus Date.now() at the start: to read an exp (wall clock) on the monotonic one. */
  wallToMonotonic: number
}

/** A success: the call did what it asked. */
export const acknowledged = (op: Op): boolean => op.status !== undefined && op.status >= 200 && op.status < 300

/** Neither done nor refused: no answer, or a 5xx (it may have happened, or may yet). */
export const indeterminate = (op: Op): boolean => op.status === undefined || op.status === 0 || op.status >= 500
