import { luaSource } from '../lua.js'

/**
 * The revocation feed in Redis: every revoking script appends its event to a stream in the same
 * script as the write, so no revocation exists without its event (feed/reader.ts reads it, into feed/replica.ts).
 *
 *   {f:<k>}:feed   stream shard k: one entry per revocation, fields k (kind), i (id), u (until, ms),
 *                  e (a client's epoch, µs); trimmed by time (MINID) once every token it can
 *                  concern has expired
 *   {f:0}:cursor  a random secret that signs the cursors of the feed's subscribers; no TTL
 *   {f:<k>}:gen    the shard's generation: Redis' time (µs) when it began; no TTL. A Redis that lost
 *                  its data begins a new one. Every token carries the generation it was issued in
 *                  (claim `gen`), and verifiers refuse a token of an older generation than the shard's
 *
 * A script touches one hash slot on Redis Cluster, so there the keys of a user or a client carry the
 * hash tag of their shard ({f:<k>}, k from a hash of the id): a user maps to one shard, and readers read
 * all of them. On one Redis (or Sentinel) there is one shard and the keys keep their own tags.
 */

/** Cluster: how many stream shards (and hash slots) the users' and clients' keys spread over. */
export const CLUSTER_FEED_SHARDS = 16

/** The kinds of event; a verifier applies them in stream order. */
export type FeedEvent =
  /** A token (user or client) is revoked until `until` (its exp, ms). */
  | { kind: 'token'; id: string; until: number }
  /** A session ended: every token of it is refused until `until` (ms), by when all of them have expired. */
  | { kind: 'session'; id: string; until: number }
  /**
   * A client's tokens issued before its epoch `epoch` are refused, until `until` (ms): a token whose `epoch`
   * claim is below it, or (a token without the claim) whose `iat` is before the epoch's second (markers.ts).
   */
  | { kind: 'client'; id: string; epoch: number; until: number }
  /** The rollback of an unacknowledged rotation: the token is no longer revoked. */
  | { kind: 'restored'; id: string }

/** The keys by which a revoking script appends to a shard (lua/feed.lua). */
export interface FeedKeys {
  feedStream: string
  feedGeneration: string
}

/** The key names of a script that appends to the feed, in the order lua/feed.lua's callers list them. */
export const FEED_KEYS = ['feedStream', 'feedGeneration'] as const satisfies readonly (keyof FeedKeys)[]

export interface FeedLayout {
  shards: number
  /** The shard whose stream carries the events of a user (by sub) or a client (by client_id). */
  shardOf(id: string): number
  /** The hash tag (and key prefix) of a user's or client's keys. */
  userTag(sub: string): string
  clientTag(clientId: string): string
  /** The stream and generation keys of the shard that holds the events of the keys with this tag. */
  feedKeysOf(tag: string): FeedKeys
  stream(shard: number): string
  generation(shard: number): string
  /** The secret that signs the feed's subscription cursors (the service's GET /oauth/revocations). */
  cursorKey: string
}

/** FNV-1a: stable across processes and releases, so every instance (and the verifier library) maps an id to the same shard. */
export function feedShardOf(id: string, shards: number): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193)
  return (hash >>> 0) % shards
}

const stream = (shard: number): string => `{f:${shard}}:feed`
const generation = (shard: number): string => `{f:${shard}}:gen`
const cursorKey = '{f:0}:cursor'

export function feedLayout(cluster: boolean): FeedLayout {
  if (!cluster) {
    return {
      shards: 1,
      shardOf: () => 0,
      userTag: (sub) => `{u:${sub}}`,
      clientTag: (clientId) => `{c:${clientId}}`,
      feedKeysOf: () => ({ feedStream: stream(0), feedGeneration: generation(0) }),
      stream,
      generation,
      cursorKey
    }
  }
  const shards = CLUSTER_FEED_SHARDS
  return {
    shards,
    shardOf: (id) => feedShardOf(id, shards),
    userTag: (sub) => `{f:${feedShardOf(sub, shards)}}:u:${sub}`,
    clientTag: (clientId) => `{f:${feedShardOf(clientId, shards)}}:c:${clientId}`,
    feedKeysOf: (tag) => {
      const shard = Number(/^\{f:(\d+)\}/.exec(tag)![1])
      return { feedStream: stream(shard), feedGeneration: generation(shard) }
    },
    stream,
    generation,
    cursorKey
  }
}

/** Lua library of the revoking scripts: `publish` and `generation` (lua/feed.lua). */
export const LUA_FEED = luaSource(new URL('./lua/feed.lua', import.meta.url))

/** Reads an entry's fields (a flat [name, value, ...] list) into its event; undefined for one it does not know. */
export function parseFeedEvent(fields: string[]): FeedEvent | undefined {
  const get = (name: string): string | undefined => {
    for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]
    return undefined
  }
  const id = get('i')
  const until = Number(get('u'))
  if (id === undefined) return undefined
  switch (get('k')) {
    case 'j':
      return Number.isFinite(until) ? { kind: 'token', id, until } : undefined
    case 's':
      return Number.isFinite(until) ? { kind: 'session', id, until } : undefined
    case 'c': {
      const epoch = Number(get('e'))
      return Number.isFinite(until) && Number.isSafeInteger(epoch) ? { kind: 'client', id, epoch, until } : undefined
    }
    case 'a':
      return { kind: 'restored', id }
    default:
      return undefined
  }
}
