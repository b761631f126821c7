import type { TokenStatus } from '../sessions/index.js'

/**
 * The client-token store. Client-credentials tokens have no session; instead the store keeps, per
 * client, the second from which it has tracked the client's revocations (its epoch), set by the first
 * grant. A token issued before the epoch (the store lost its data, or the client was forgotten) is
 * refused, so a store that comes back empty re-admits no revoked client token either.
 * Backends: `redis.ts` and `sqlite.ts`, beside the session store's.
 *
 * Time: decisions compare stored times with the `now` the caller passes; backend expiry only collects garbage.
 * Every method throws StoreUnavailableError when the store cannot answer.
 */
export interface ClientTokenStore {
  /**
   * Called on every grant, before the token is signed: sets the epoch to `now` unless one is live, and
   * keeps it at least until `until` (ms), the new token's expiry. Returns the epoch (s): the token's `iat`
   * must not be before it.
   */
  keepEpoch(clientId: string, now: number, until: number): Promise<number>
  check(token: ClientTokenRef, now: number): Promise<TokenStatus>
  revoke(token: ClientTokenRef, now: number): Promise<void>
  /**
   * Every token of the client issued up to `now` (ms) is refused from now on (the client was deleted, or its
   * secret rotated): the epoch becomes the next second, kept until `until` (ms), when those tokens have expired.
   */
  forget(clientId: string, now: number, until: number): Promise<void>
}

/** The epoch a forgotten client's tokens start from: the second after `now`, so that none issued up to `now` passes. */
export const epochAfter = (now: number): number => Math.floor(now / 1000) + 1

export interface ClientTokenRef {
  client_id: string
  jti: string
  /** Seconds, as the claims have them. */
  iat: number
  exp: number
}
