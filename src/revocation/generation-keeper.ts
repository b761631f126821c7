import type { RedisClient } from '../stores/redis-connection.js'
import { LUA_FEED, type FeedLayout } from '../stores/revocation-feed.js'

// KEYS: a shard's generation. Begins one where there is none.
const BEGIN = `${LUA_FEED}
generation()
return 1`

/**
 * Begins every feed shard's generation where there is none, every `everyMs`, for an instance that runs no
 * feed reader (REVOCATION_CHECK=strict, no subscriber): only the service may begin one, and the verifier
 * library waits for it (stale meanwhile). So after Redis lost its data, the feed is whole again within
 * this period even when nobody logs in or out.
 */
export function keepGenerations(redis: RedisClient, layout: FeedLayout, everyMs: number): { stop(): void } {
  redis.defineCommand('jwtFeedBeginGeneration', { numberOfKeys: 1, lua: BEGIN })
  const begin = (redis as unknown as Record<string, (key: string) => Promise<unknown>>).jwtFeedBeginGeneration!
  const round = (): void => {
    for (let shard = 0; shard < layout.shards; shard++) begin.call(redis, layout.generation(shard)).catch(() => {})
  }
  round()
  const timer = setInterval(round, everyMs)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}
