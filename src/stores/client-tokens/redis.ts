import { FEED_KEYS, type FeedEvent, type FeedLayout, LUA_FEED, luaScript, luaSource, reply } from '@jwt-auth-service/verifier/feed'
import { GARBAGE_DELAY_MS, LUA_EXPIRED, type RedisScripts } from '../redis-scripts.js'
import type { ClientTokenStore } from './index.js'

/*
 * {c:<client_id>} below stands for the client's hash tag (on Redis Cluster its feed shard's, {f:<k>}:c:<client_id>:
 * the verifier package's feed/protocol.ts).
 *   {c:<client_id>}:epoch   the client's epoch (not-before.ts), kept until its newest token's expiry,
 *                           plus GARBAGE_DELAY_MS (garbage collection: every token it covers is expired by then)
 *   {c:<client_id>}:j:<jti> "r": a revoked client token; PXAT the token's exp (and `expired()` past it)
 *   {c:<client_id>}:v       the client's version (record-versions.ts): INCR on every change of the client; no TTL
 *                           (a few bytes per client that ever changed)
 * Revoking a token and forgetting a client append their events to the client's feed shard (../lua/feed.lua).
 * The scripts are the .lua files in lua/.
 */
const epochKey = (tag: string): string => `${tag}:epoch`
const tokenKey = (tag: string, jti: string): string => `${tag}:j:${jti}`
/** The client's record version (record-versions.ts), in the client's hash slot. */
export const clientVersionKey = (layout: FeedLayout) => (clientId: string): string => `${layout.clientTag(clientId)}:v`

const LUA_MARKER_SECONDS = luaSource(new URL('./lua/marker-seconds.lua', import.meta.url))
const script = (name: string): URL => new URL(`./lua/${name}.lua`, import.meta.url)

const KEEP_EPOCH = luaScript({
  command: 'jwtClientKeepEpoch',
  source: script('keep-epoch'),
  libraries: [LUA_FEED],
  keys: ['epoch', ...FEED_KEYS],
  args: ['keepUntil'],
  decode: (value) => {
    const [epoch, generation] = reply.strings(value)
    return { epoch: Number(epoch), generation: Number(generation) }
  }
})

const CHECK = luaScript({
  command: 'jwtClientCheck',
  source: script('check'),
  libraries: [LUA_EXPIRED, LUA_MARKER_SECONDS],
  keys: ['token', 'epoch'],
  args: ['iat', 'exp', 'epoch'],
  decode: reply.integer
})

const REVOKE = luaScript({
  command: 'jwtClientRevoke',
  source: script('revoke'),
  libraries: [LUA_FEED],
  keys: ['token', ...FEED_KEYS],
  args: ['exp', 'jti', 'feedKeep'],
  decode: reply.integer
})

const FORGET = luaScript({
  command: 'jwtClientForget',
  source: script('forget'),
  libraries: [LUA_FEED],
  keys: ['epoch', ...FEED_KEYS],
  args: ['clientId', 'eventsUntil', 'garbageAt', 'feedKeep'],
  decode: (value) => Number(reply.string(value))
})

export const CLIENT_TOKEN_SCRIPTS = [KEEP_EPOCH, CHECK, REVOKE, FORGET]

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
      return scripts.run(KEEP_EPOCH, { epoch: epochKey(tag), ...layout.feedKeysOf(tag) }, { keepUntil: until + GARBAGE_DELAY_MS })
    },
    async check({ client_id, jti, iat, exp, epoch }) {
      const tag = tagOf(client_id)
      const verdict = await scripts.run(CHECK, { token: tokenKey(tag, jti), epoch: epochKey(tag) }, { iat, exp: exp * 1000, epoch: epoch ?? '' })
      return verdict === 0 ? 'active' : 'revoked'
    },
    async revoke({ client_id, jti, exp }) {
      const tag = tagOf(client_id)
      await scripts.revoke(REVOKE, { token: tokenKey(tag, jti), ...layout.feedKeysOf(tag) }, { exp: exp * 1000, jti, feedKeep: feedKeepMs })
      published([{ kind: 'token', id: jti, until: exp * 1000 }])
    },
    async forget(clientId, _now, until) {
      const tag = tagOf(clientId)
      const epoch = await scripts.revoke(FORGET, { epoch: epochKey(tag), ...layout.feedKeysOf(tag) }, { clientId, eventsUntil: until, garbageAt: until + GARBAGE_DELAY_MS, feedKeep: feedKeepMs })
      published([{ kind: 'client', id: clientId, epoch, until }])
    }
  }
}
