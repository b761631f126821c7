import type { Clock, Monotonic } from '../clock.js'
import { openRedis, type RedisClient } from '../redis.js'
import { feedLayout } from './protocol.js'
import { FeedReader } from './reader.js'
import { RevocationReplica } from './replica.js'
import type { ReplicaSource } from './sse.js'

export interface RedisFeedOptions {
  redisUrl?: string
  redisClusterNodes?: string
  /** The service's REDIS_KEY_PREFIX; `jwt:` by default, as the service's. */
  keyPrefix?: string
  clock: Clock
  maxLagMs: number
  onError?: (error: Error) => void
  monotonic?: Monotonic
}

/** A command that does not answer within this (ms) fails, and the connection is made again. */
const COMMAND_TIMEOUT_MS = 2_000

/**
 * The revocation feed read from the service's Redis directly, as the service's own instances read it
 * (reader.ts): the lowest lag, for services that may reach that Redis.
 */
export function openRedisFeed(options: RedisFeedOptions): ReplicaSource {
  const { clock, maxLagMs, onError, monotonic } = options
  const cluster = options.redisClusterNodes !== undefined
  const prefix = options.keyPrefix ?? 'jwt:'
  const layout = feedLayout(cluster)
  const replica = new RevocationReplica(layout.shards)
  let failure: Error | undefined
  const fail = (error: Error): void => {
    failure = error
    onError?.(error)
  }
  let reader: FeedReader | undefined
  let closed = false
  const target = cluster ? { clusterNodes: options.redisClusterNodes! } : { url: options.redisUrl! }
  const opened: Promise<RedisClient | undefined> = openRedis(target, prefix, COMMAND_TIMEOUT_MS).then(
    (redis) => {
      if (closed) return undefined
      redis.on('error', fail)
      void redis.connect().catch(() => {})
      // Only the service begins a generation: a verifier that finds none has the wrong prefix, or no service runs.
      reader = new FeedReader({ redis, layout, replica, now: clock.now, probeEveryMs: 50, blockMs: 1_000, beginGeneration: false, monotonic, log: { warn: (_details, message) => fail(new Error(message)) } })
      let reported = false
      reader.on('missing', () => {
        if (reported) return
        reported = true
        fail(new Error(`no revocation feed under the key prefix ${JSON.stringify(prefix)}: is the service's REDIS_KEY_PREFIX the same, and has the service started?`))
      })
      reader.on('generation', () => (reported = false))
      reader.start()
      return redis
    },
    (error: Error) => {
      fail(error)
      return undefined
    }
  )
  const lagMs = (): number => reader?.lagMs() ?? Number.POSITIVE_INFINITY
  return {
    replica: () => replica,
    shardOf: layout.shardOf,
    lagMs,
    lastError: () => (lagMs() <= maxLagMs ? undefined : failure),
    async close() {
      closed = true
      const redis = await opened
      await reader?.stop()
      redis?.disconnect()
    }
  }
}
