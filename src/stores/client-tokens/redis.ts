import { GARBAGE_DELAY_MS, LUA_EXPIRED, type RedisScripts, type ScriptDefinition } from '../redis-scripts.js'
import { LUA_FEED, type FeedEvent, type FeedLayout } from '../revocation-feed.js'
import { epochAfter, type ClientTokenStore } from './index.js'

/*
 * {c:<client_id>} below stands for the client's hash tag (on Redis Cluster its feed shard's, {f:<k>}:c:<client_id>:
 * revocation-feed.ts).
 *   {c:<client_id>}:epoch   the second from which the client's revocations are tracked; kept until its
 *                           newest token's expiry, plus GARBAGE_DELAY_MS (garbage collection: every token it
 *                           covers is expired by then)
 *   {c:<client_id>}:j:<jti> "r": a revoked client token; PXAT the token's exp (and `expired()` past it)
 *   {c:<client_id>}:v       the client's version (record-versions.ts): INCR on every change of the client; no TTL
 *                           (a few bytes per client that ever changed)
 * Revoking a token and forgetting a client append their events to the client's feed shard (last two KEYS).
 */
const epochKey = (tag: string): string => `${tag}:epoch`
const tokenKey = (tag: string, jti: string): string => `${tag}:j:${jti}`
/** The client's record version (record-versions.ts), in the client's hash slot. */
export const clientVersionKey = (layout: FeedLayout) => (clientId: string): string => `${layout.clientTag(clientId)}:v`

// KEYS: epoch, feed stream, feed generation. ARGV: now (s), until (ms)
const KEEP_EPOCH = `${LUA_FEED}
generation()
redis.call('SET', KEYS[1], ARGV[1], 'NX')
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
return tonumber(redis.call('GET', KEYS[1]))`

// KEYS: token, epoch. ARGV: iat (s), exp (ms). Returns 0 when the token may pass.
const CHECK = `${LUA_EXPIRED}
if redis.call('EXISTS', KEYS[1]) == 1 or expired(ARGV[2]) then return 1 end
local epoch = redis.call('GET', KEYS[2])
if not epoch or tonumber(epoch) > tonumber(ARGV[1]) then return 2 end
return 0`

// KEYS: token, feed stream, feed generation. ARGV: exp (ms), jti, keep (ms)
const REVOKE = `${LUA_FEED}
redis.call('SET', KEYS[1], 'r', 'PXAT', ARGV[1])
publish('j', ARGV[2], ARGV[1])
return 1`

// KEYS: epoch, feed stream, feed generation.
// ARGV: client id, new epoch (s), until (ms), keep (ms), garbage at (ms). The event's not-before is the epoch, in ms.
const FORGET = `${LUA_FEED}
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[5])
publish('c', ARGV[1], ARGV[3], tonumber(ARGV[2]) * 1000)
return 1`

export const CLIENT_TOKEN_SCRIPTS: Record<string, ScriptDefinition> = {
  jwtClientKeepEpoch: { numberOfKeys: 3, lua: KEEP_EPOCH },
  jwtClientCheck: { numberOfKeys: 2, lua: CHECK },
  jwtClientRevoke: { numberOfKeys: 3, lua: REVOKE },
  jwtClientForget: { numberOfKeys: 3, lua: FORGET }
}

export interface RedisClientTokenStoreOptions {
  layout: FeedLayout
  /** ms: how long the feed keeps an event. */
  feedKeepMs: number
  /** Told the events of each revoking write once Redis ran it (see the session store's). */
  published: (events: FeedEvent[]) => void
}

export function createRedisClientTokenStore(scripts: RedisScripts, { layout, feedKeepMs, published }: RedisClientTokenStoreOptions): ClientTokenStore {
  const tagOf = layout.clientTag
  return {
    async keepEpoch(clientId, now, until) {
      const tag = tagOf(clientId)
      return scripts.run<number>('jwtClientKeepEpoch', epochKey(tag), ...layout.feedKeysOf(tag), Math.floor(now / 1000), until + GARBAGE_DELAY_MS)
    },
    async check({ client_id, jti, iat, exp }) {
      const tag = tagOf(client_id)
      const verdict = await scripts.run<number>('jwtClientCheck', tokenKey(tag, jti), epochKey(tag), iat, exp * 1000)
      return verdict === 0 ? 'active' : 'revoked'
    },
    async revoke({ client_id, jti, exp }) {
      const tag = tagOf(client_id)
      await scripts.revoke('jwtClientRevoke', tokenKey(tag, jti), ...layout.feedKeysOf(tag), exp * 1000, jti, feedKeepMs)
      published([{ kind: 'token', id: jti, until: exp * 1000 }])
    },
    async forget(clientId, now, until) {
      const tag = tagOf(clientId)
      const epoch = epochAfter(now)
      await scripts.revoke('jwtClientForget', epochKey(tag), ...layout.feedKeysOf(tag), clientId, epoch, until, feedKeepMs, until + GARBAGE_DELAY_MS)
      published([{ kind: 'client', id: clientId, notBefore: epoch * 1000, until }])
    }
  }
}
