import { defineLuaScripts, type FeedLayout, LUA_FEED, luaScript, reply, runLua } from '@jwt-auth-service/verifier/feed'
import type { RedisClient } from '../stores/redis-connection.js'

const BEGIN = luaScript({
  command: 'jwtFeedBeginGeneration',
  source: new URL('./lua/begin-generation.lua', import.meta.url),
  libraries: [LUA_FEED],
  keys: ['feedGeneration'],
  args: [],
  decode: reply.integer
})

/**
 * Begins every feed shard's generation where there is none, every `everyMs`, for an instance that runs no
 * feed reader (REVOCATION_CHECK=strict, no subscriber): only the service may begin one, and the verifier
 * library waits for it (stale meanwhile). So after Redis lost its data, the feed is whole again within
 * this period even when nobody logs in or out.
 */
export function keepGenerations(redis: RedisClient, layout: FeedLayout, everyMs: number): { stop(): void } {
  defineLuaScripts(redis, [BEGIN])
  const round = (): void => {
    for (let shard = 0; shard < layout.shards; shard++) runLua(redis, BEGIN, { feedGeneration: layout.generation(shard) }, {}).catch(() => {})
  }
  round()
  const timer = setInterval(round, everyMs)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}
