import { GARBAGE_DELAY_MS, LUA_EXPIRED, type RedisScripts, type ScriptDefinition } from '../redis-scripts.js'
import { LUA_FEED, type FeedEvent, type FeedLayout } from '../revocation-feed.js'
import type { ClientTokenStore } from './index.js'

/*
 * {c:<client_id>} below stands for the client's hash tag (on Redis Cluster its feed shard's, {f:<k>}:c:<client_id>:
 * revocation-feed.ts).
 *   {c:<client_id>}:epoch   the client's epoch (not-before.ts), kept until its newest token's expiry,
 *                           plus GARBAGE_DELAY_MS (garbage collection: every token it covers is expired by then)
 *   {c:<client_id>}:j:<jti> "r": a revoked client token; PXAT the token's exp (and `expired()` past it)
 *   {c:<client_id>}:v       the client's version (record-versions.ts): INCR on every change of the client; no TTL
 *                           (a few bytes per client that ever changed)
 * Revoking a token and forgetting a client append their events to the client's feed shard (last two KEYS).
 */
const epochKey = (tag: string): string => `${tag}:epoch`
const tokenKey = (tag: string, jti: string): string => `${tag}:j:${jti}`
/** The client's record version (record-versions.ts), in the client's hash slot. */
export const clientVersionKey = (layout: FeedLayout) => (clientId: string): string => `${layout.clientTag(clientId)}:v`

/** Lua: not-before.ts's markerSeconds. */
const LUA_MARKER_SECONDS = `
local function markerSeconds(marker)
  if marker < 1e11 then return marker end
  if marker < 1e14 then return math.floor(marker / 1e3) end
  return math.floor(marker / 1e6)
end
`

// KEYS: epoch, feed stream, feed generation. ARGV: until (ms). Returns {epoch, generation}.
const KEEP_EPOCH = `${LUA_FEED}
local gen = generation()
redis.call('SET', KEYS[1], redisNowUs(), 'NX')
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[1]) then redis.call('PEXPIREAT', KEYS[1], ARGV[1]) end
return {redis.call('GET', KEYS[1]), gen}`

// KEYS: token, epoch. ARGV: iat (s), exp (ms), the token's epoch ('' for a token without one).
// Returns 0 when the token may pass.
const CHECK = `${LUA_EXPIRED}${LUA_MARKER_SECONDS}
if redis.call('EXISTS', KEYS[1]) == 1 or expired(ARGV[2]) then return 1 end
local epoch = redis.call('GET', KEYS[2])
if not epoch then return 2 end
if ARGV[3] == '' then
  if markerSeconds(tonumber(epoch)) > tonumber(ARGV[1]) then return 2 end
elseif epoch ~= ARGV[3] then
  return 2
end
return 0`

// KEYS: token, feed stream, feed generation. ARGV: exp (ms), jti, keep (ms)
const REVOKE = `${LUA_FEED}
redis.call('SET', KEYS[1], 'r', 'PXAT', ARGV[1])
publish('j', ARGV[2], ARGV[1])
return 1`

// KEYS: epoch, feed stream, feed generation.
// ARGV: client id, until (ms), garbage at (ms), keep (ms). Returns the new epoch: not-before.ts nextEpoch, by Redis' clock.
const FORGET = `${LUA_FEED}
local time = redis.call('TIME')
local epoch = (tonumber(time[1]) + 1) * 1000000
local previous = tonumber(redis.call('GET', KEYS[1]) or '0')
if previous >= epoch then epoch = previous + 1 end
epoch = string.format('%.0f', epoch)
redis.call('SET', KEYS[1], epoch, 'PXAT', ARGV[3])
publish('c', ARGV[1], ARGV[2], epoch)
return epoch`

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
    async keepEpoch(clientId, _now, until) {
      const tag = tagOf(clientId)
      const [epoch, generation] = await scripts.run<[string, string]>('jwtClientKeepEpoch', epochKey(tag), ...layout.feedKeysOf(tag), until + GARBAGE_DELAY_MS)
      return { epoch: Number(epoch), generation: Number(generation) }
    },
    async check({ client_id, jti, iat, exp, epoch }) {
      const tag = tagOf(client_id)
      const verdict = await scripts.run<number>('jwtClientCheck', tokenKey(tag, jti), epochKey(tag), iat, exp * 1000, epoch ?? '')
      return verdict === 0 ? 'active' : 'revoked'
    },
    async revoke({ client_id, jti, exp }) {
      const tag = tagOf(client_id)
      await scripts.revoke('jwtClientRevoke', tokenKey(tag, jti), ...layout.feedKeysOf(tag), exp * 1000, jti, feedKeepMs)
      published([{ kind: 'token', id: jti, until: exp * 1000 }])
    },
    async forget(clientId, _now, until) {
      const tag = tagOf(clientId)
      const epoch = await scripts.revoke<string>('jwtClientForget', epochKey(tag), ...layout.feedKeysOf(tag), clientId, until, until + GARBAGE_DELAY_MS, feedKeepMs)
      published([{ kind: 'client', id: clientId, epoch: Number(epoch), until }])
    }
  }
}
