import { failFastClusterOptions, failFastOptions, redisHosts, type RedisClient } from '@jwt-auth-service/verifier/feed'
import { Cluster, Redis } from 'ioredis'
import type { Config } from '../config.js'
import { withoutPassword } from '../settings/urls.js'

export type { RedisClient }

/** Whether the settings name a Redis (a URL, Sentinels or Cluster nodes): the revocation stores live there. */
export const redisConfigured = (config: Config): boolean =>
  config.REDIS_URL !== undefined || config.REDIS_SENTINELS !== undefined || config.REDIS_CLUSTER_NODES !== undefined

/** The settings a Redis connection is made from. */
export type RedisSettings = Pick<
  Config,
  'REDIS_URL' | 'REDIS_CLUSTER_NODES' | 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME' | 'REDIS_PASSWORD' | 'REDIS_SENTINEL_PASSWORD' | 'REDIS_KEY_PREFIX' | 'REDIS_COMMAND_TIMEOUT_MS'
>

/**
 * One Redis, a Cluster or a Sentinel group, from the settings; `undefined` when none is configured.
 *
 * Fail fast rather than queue (failFastOptions): a request on a dead Redis gets 503 within
 * REDIS_COMMAND_TIMEOUT_MS instead of hanging, and the service recovers by itself when Redis returns.
 */
export function createRedisClient(config: RedisSettings): RedisClient | undefined {
  const prefix = config.REDIS_KEY_PREFIX
  const timeout = config.REDIS_COMMAND_TIMEOUT_MS
  const password = config.REDIS_PASSWORD === undefined ? {} : { password: config.REDIS_PASSWORD }
  if (config.REDIS_CLUSTER_NODES !== undefined) {
    const options = failFastClusterOptions(prefix, timeout)
    return new Cluster(redisHosts(config.REDIS_CLUSTER_NODES), { ...options, redisOptions: { ...options.redisOptions, ...password } })
  }
  if (config.REDIS_SENTINELS !== undefined) {
    return new Redis({
      ...failFastOptions(prefix, timeout),
      ...password,
      sentinels: redisHosts(config.REDIS_SENTINELS),
      name: config.REDIS_SENTINEL_NAME,
      ...(config.REDIS_SENTINEL_PASSWORD === undefined ? {} : { sentinelPassword: config.REDIS_SENTINEL_PASSWORD })
    })
  }
  // A password in the URL wins: REDIS_PASSWORD is for a URL without one.
  if (config.REDIS_URL !== undefined) return new Redis(config.REDIS_URL, { ...password, ...failFastOptions(prefix, timeout) })
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
  await redis.connect().catch((error: Error) => {
    log.warn({ err: { message: error.message }, purpose }, 'redis not reachable at boot')
    // Besides the JSON line: one plain line on stderr that an operator reading `kubectl logs` cannot miss.
    process.stderr.write(`jwt-auth-service: warning: ${redisUnreachableLine(config, error)}\n`)
  })
  return redis
}

/** Which setting names the Redis that did not answer (never its password), and what the service does meanwhile. */
export function redisUnreachableLine(config: RedisSettings, error: Error): string {
  const where =
    config.REDIS_CLUSTER_NODES !== undefined
      ? `REDIS_CLUSTER_NODES=${config.REDIS_CLUSTER_NODES}`
      : config.REDIS_SENTINELS !== undefined
        ? `REDIS_SENTINELS=${config.REDIS_SENTINELS} (REDIS_SENTINEL_NAME=${config.REDIS_SENTINEL_NAME ?? ''})`
        : `REDIS_URL=${withoutPassword(config.REDIS_URL ?? '')}`
  return `Redis is not reachable at ${where} (${error.message}); starting fail-closed: what needs Redis answers 503 until it answers, and the service recovers by itself`
}
