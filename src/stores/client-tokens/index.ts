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
   * keeps it at least until `until` (ms), the new token's expiry.
   */
  keepEpoch(clientId: string, now: number, until: number): Promise<void>
  check(token: ClientTokenRef, now: number): Promise<TokenStatus>
  revoke(token: ClientTokenRef, now: number): Promise<void>
  /** Every token of the client is refused from now on (the client was deleted). */
  forget(clientId: string): Promise<void>
}

export interface ClientTokenRef {
  client_id: string
  jti: string
  /** Seconds, as the claims have them. */
  iat: number
  exp: number
}
