import type { TokenStatus } from '../sessions/index.js'

/**
 * The client-token store. Client-credentials tokens have no session; instead the store keeps, per
 * client, its epoch (not-before.ts): a marker set by the first grant, and set anew, above every earlier
 * one, when the client is forgotten (deleted, or its secret rotated). Every token carries the epoch it
 * was issued under (claim `epoch`) and passes only while that is still the client's epoch, so a store
 * that comes back empty re-admits no revoked client token either.
 * Backends: `redis.ts` and `sqlite.ts`, beside the session store's.
 *
 * Time: decisions compare stored times with the `now` the caller passes; backend expiry only collects garbage.
 * Every method throws StoreUnavailableError when the store cannot answer.
 */
export interface ClientTokenStore {
  /**
   * Called on every grant, before the token is signed: sets the client's epoch unless one is live, and
   * keeps it at least until `until` (ms), the new token's expiry. Returns what the token must carry.
   */
  keepEpoch(clientId: string, now: number, until: number): Promise<IssuedUnder>
  check(token: ClientTokenRef, now: number): Promise<TokenStatus>
  revoke(token: ClientTokenRef, now: number): Promise<void>
  /**
   * Every token of the client issued up to now is refused from now on (the client was deleted, or its
   * secret rotated): a new epoch, kept until `until` (ms), when those tokens have expired.
   */
  forget(clientId: string, now: number, until: number): Promise<void>
}

/** The markers a new client token carries (not-before.ts). */
export interface IssuedUnder {
  /** The client's epoch: claim `epoch`. */
  epoch: number
  /** Redis: the generation of the client's feed shard, claim `gen`. */
  generation?: number
}

export interface ClientTokenRef {
  client_id: string
  jti: string
  /** Seconds, as the claims have them. */
  iat: number
  exp: number
  /** The client epoch it was issued under; absent from tokens issued before client epochs existed (stores/not-before.ts). */
  epoch?: number
}
