import type { FeedEvent } from '../stores/revocation-feed.js'
import { ExpiringSet } from './expiring-set.js'

/** What the replica needs of a token's claims: a user token has `sid`, a client token `client_id`. */
export interface RevocableClaims {
  jti: string
  iat: number
  sid?: string
  client_id?: string
}

/**
 * The live revocations, in memory: revoked token ids and ended sessions (in a compact ExpiringSet), the
 * clients' not-befores, and per feed shard its generation (the Redis time, ms, when the shard began: a
 * token issued before it is refused, as after a loss of the store's data nothing it issued can be checked).
 *
 * Time: an entry lives until the `until` its event carries (the service's clock); `nowMs` is the caller's.
 * Each event's kind is a key prefix: j:<jti> for a token, s:<sid> for a session.
 */
export class RevocationReplica {
  private readonly revoked = new ExpiringSet(4096)
  private readonly clients = new Map<string, { notBefore: number; until: number }>()
  private readonly generations: number[]
  private sweptAt = 0

  constructor(shards: number) {
    this.generations = new Array<number>(shards).fill(Number.POSITIVE_INFINITY)
  }

  apply(event: FeedEvent, nowMs: number): void {
    switch (event.kind) {
      case 'token':
        this.revoked.add(`j:${event.id}`, event.until / 1000)
        break
      case 'session':
        this.revoked.add(`s:${event.id}`, event.until / 1000)
        break
      case 'restored':
        this.revoked.delete(`j:${event.id}`)
        break
      case 'client': {
        const known = this.clients.get(event.id)
        if (known === undefined || known.notBefore < event.notBefore) this.clients.set(event.id, { notBefore: event.notBefore, until: event.until })
        break
      }
    }
    this.sweep(nowMs)
  }

  /** A shard's generation (Redis time, ms): tokens issued (iat, s) before its second are refused. */
  setGeneration(shard: number, startedAtMs: number): void {
    this.generations[shard] = startedAtMs
  }

  /**
   * Whether the token is revoked, as far as the events applied tell. `shard`: the feed shard of its
   * user or client. Seconds are compared as the strict check does (a client's epoch is a second).
   */
  isRevoked(claims: RevocableClaims, shard: number, nowMs: number): boolean {
    if (claims.iat < Math.floor(this.generations[shard]! / 1000)) return true
    const nowSeconds = nowMs / 1000
    if (this.revoked.has(`j:${claims.jti}`, nowSeconds)) return true
    if (claims.sid !== undefined) return this.revoked.has(`s:${claims.sid}`, nowSeconds)
    if (claims.client_id !== undefined) {
      const client = this.clients.get(claims.client_id)
      if (client !== undefined && client.until > nowMs && claims.iat < Math.floor(client.notBefore / 1000)) return true
    }
    return false
  }

  get size(): number {
    return this.revoked.size + this.clients.size
  }

  /** Bytes the revocations take (the set's arrays; the few clients' entries are not counted). */
  get bytes(): number {
    return this.revoked.bytes
  }

  /** Expired entries are dropped at most once a minute: a sweep is O(capacity). */
  private sweep(nowMs: number): void {
    if (nowMs - this.sweptAt < 60_000) return
    this.sweptAt = nowMs
    this.revoked.sweep(nowMs / 1000)
    for (const [id, client] of this.clients) if (client.until <= nowMs) this.clients.delete(id)
  }
}
