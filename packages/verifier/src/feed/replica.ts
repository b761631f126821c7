import { markerSeconds } from './markers.js'
import { feedShardOf, type FeedEvent } from './protocol.js'
import { ExpiringSet } from './expiring-set.js'

/** What the replica needs of a token's claims: a user token has `sid`, a client token `client_id`. */
export interface RevocableClaims {
  jti: string
  iat: number
  sid?: string
  client_id?: string
  /** The feed generation it was issued in; a client token's epoch (markers.ts). */
  gen?: number
  epoch?: number
}

/**
 * What the replica can say of a token: `unknown` when the token was issued in a generation newer than the
 * one the replica holds (Redis lost its data and the replica has not seen it yet): only the store can tell.
 */
export type ReplicaVerdict = 'active' | 'revoked' | 'unknown'

/**
 * The live revocations, in memory: revoked token ids and ended sessions (in a compact ExpiringSet), the
 * clients' epochs, and per feed shard its generation (markers.ts: a token of an older
 * generation is refused, as after a loss of the store's data nothing it issued can be checked).
 *
 * Time: an entry lives until the `until` its event carries (the service's clock); `nowMs` is the caller's.
 * Each event's kind is a key prefix: j:<jti> for a token, s:<sid> for a session.
 */
export class RevocationReplica {
  private readonly revoked = new ExpiringSet(4096)
  private readonly clients = new Map<string, { epoch: number; until: number }>()
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
        if (known === undefined || known.epoch < event.epoch) this.clients.set(event.id, { epoch: event.epoch, until: event.until })
        break
      }
    }
    this.sweep(nowMs)
  }

  /**
   * A shard's generation (a marker, markers.ts). A new one drops the shard's client epochs: they
   * were the old generation's, and a client's epoch there may lie above its first epoch in the new one (set
   * within a second of the loss), which would refuse the client's new tokens. Token and session entries are
   * kept: their ids are never used again, and they expire with their tokens.
   */
  setGeneration(shard: number, generation: number): void {
    const previous = this.generations[shard]!
    this.generations[shard] = generation
    if (!Number.isFinite(previous) || previous === generation) return
    for (const id of this.clients.keys()) if (feedShardOf(id, this.generations.length) === shard) this.clients.delete(id)
  }

  /**
   * Whether the token is revoked, as far as the events applied tell. `shard`: the feed shard of its user
   * or client. A token without the markers (issued before they existed) is judged by its `iat` against the
   * markers' seconds, as it was when it was issued.
   */
  verdict(claims: RevocableClaims, shard: number, nowMs: number): ReplicaVerdict {
    const generation = this.generations[shard]!
    if (claims.gen === undefined) {
      if (claims.iat < markerSeconds(generation)) return 'revoked'
    } else if (claims.gen !== generation) {
      return claims.gen < generation ? 'revoked' : 'unknown'
    }
    const nowSeconds = nowMs / 1000
    if (this.revoked.has(`j:${claims.jti}`, nowSeconds)) return 'revoked'
    if (claims.sid !== undefined) return this.revoked.has(`s:${claims.sid}`, nowSeconds) ? 'revoked' : 'active'
    if (claims.client_id !== undefined) {
      const client = this.clients.get(claims.client_id)
      if (client !== undefined && client.until > nowMs) {
        const before = claims.epoch === undefined ? claims.iat < markerSeconds(client.epoch) : claims.epoch < client.epoch
        if (before) return 'revoked'
      }
    }
    return 'active'
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
