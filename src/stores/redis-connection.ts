import { Cluster, Redis, type RedisOptions } from 'ioredis'
import type { Config } from '../config.js'

export type RedisClient = Redis | Cluster

function hostsOf(list: string): { host: string; port: number }[] {
  return list.split(',').map((entry) => {
    const [host, port] = entry.trim().split(':')
    return { host: host!, port: Number(port) }
  })
}

/** Whether the settings name a Redis (a URL, Sentinels or Cluster nodes): the revocation stores live there. */
export const redisConfigured = (config: Config): boolean =>
  config.REDIS_URL !== undefined || config.REDIS_SENTINELS !== undefined || config.REDIS_CLUSTER_NODES !== undefined

/**
 * One Redis, a Cluster or a Sentinel group, from the settings; `undefined` when none is configured.
 *
 * Fail fast rather than queue: with the offline queue off and a command timeout, a request on a dead
 * Redis gets 503 within REDIS_COMMAND_TIMEOUT_MS instead of hanging, while the client keeps
 * reconnecting in the background and the service recovers by itself when Redis returns. A command
 * that failed so is never sent again on the new connection.
 */
/** The settings a Redis connection is made from (the verifier library passes its own). */
export type RedisSettings = Pick<Config, 'REDIS_URL' | 'REDIS_CLUSTER_NODES' | 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME' | 'REDIS_KEY_PREFIX' | 'REDIS_COMMAND_TIMEOUT_MS'>

export function createRedisClient(config: RedisSettings): RedisClient | undefined {
  const options: RedisOptions = {
    keyPrefix: config.REDIS_KEY_PREFIX,
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: config.REDIS_COMMAND_TIMEOUT_MS * 2,
    maxRetriesPerRequest: 1,
    // A command whose connection dropped before its answer came failed for its request (503): it must
    // not run later, when the connection is back (ioredis resends such commands by default).
    autoResendUnfulfilledCommands: false,
    lazyConnect: true,
    retryStrategy: (attempt) => Math.min(50 * attempt, 1000)
  }
  if (config.REDIS_CLUSTER_NODES !== undefined) {
    return new Cluster(hostsOf(config.REDIS_CLUSTER_NODES), {
      keyPrefix: config.REDIS_KEY_PREFIX,
      enableAutoPipelining: true,
      enableOfflineQueue: false,
      lazyConnect: true,
      clusterRetryStrategy: (attempt) => Math.min(100 * attempt, 1000),
      redisOptions: { ...options, keyPrefix: undefined }
    })
  }
  if (config.REDIS_SENTINELS !== undefined) {
    return new Redis({ ...options, sentinels: hostsOf(config.REDIS_SENTINELS), name: config.REDIS_SENTINEL_NAME })
  }
  if (config.REDIS_URL !== undefined) return new Redis(config.REDIS_URL, options)
  return undefined
}

export interface Logger {
  warn(details: object, message: string): void
}

/**
 * createRedisClient, connected: connection errors are logged at most every 10 s (requests report
 * them as 503, /health/ready too), and a Redis that is down at boot does not stop the service,
 * which answers 503 until Redis is back (the client keeps retrying).
 */
export async function connectRedis(config: Config, log: Logger, purpose: string): Promise<RedisClient | undefined> {
  const redis = createRedisClient(config)
  if (redis === undefined) return undefined
  let lastReported = -Infinity
  redis.on('error', (error: Error) => {
    // A monotonic clock: this only paces log lines, it decides nothing.
    if (performance.now() - lastReported < 10_000) return
    lastReported = performance.now()
    log.warn({ err: { message: error.message }, purpose }, 'redis connection error')
  })
  await redis.connect().catch((error: Error) => log.warn({ err: { message: error.message }, purpose }, 'redis not reachable at boot'))
  return redis
}
