import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis'

export type RedisClient = Redis | Cluster

/** `host:port,host:port`, as REDIS_CLUSTER_NODES and REDIS_SENTINELS list them. */
export function redisHosts(list: string): { host: string; port: number }[] {
  return list.split(',').map((entry) => {
    const [host, port] = entry.trim().split(':')
    return { host: host!, port: Number(port) }
  })
}

/**
 * Fail fast rather than queue: with the offline queue off and a command timeout, a request on a dead Redis
 * fails within `commandTimeoutMs` instead of hanging, while the client keeps reconnecting in the background
 * and recovers by itself when Redis returns. A command that failed so is never sent again on the new
 * connection. The service and the verifier connect alike.
 */
export function failFastOptions(keyPrefix: string | undefined, commandTimeoutMs: number): RedisOptions {
  return {
    keyPrefix,
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    commandTimeout: commandTimeoutMs,
    connectTimeout: commandTimeoutMs * 2,
    maxRetriesPerRequest: 1,
    // A command whose connection dropped before its answer came failed for its caller: it must not run
    // later, when the connection is back (ioredis resends such commands by default).
    autoResendUnfulfilledCommands: false,
    lazyConnect: true,
    retryStrategy: (attempt) => Math.min(50 * attempt, 1000)
  }
}

/** A Cluster's options: the nodes' connections fail fast alike (failFastOptions), the key prefix is the Cluster's. */
export function failFastClusterOptions(keyPrefix: string | undefined, commandTimeoutMs: number): ClusterOptions {
  return {
    keyPrefix,
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    lazyConnect: true,
    clusterRetryStrategy: (attempt) => Math.min(100 * attempt, 1000),
    redisOptions: failFastOptions(undefined, commandTimeoutMs)
  }
}

/**
 * The verifier's connection to the service's Redis, not yet connected. ioredis is an optional peer: it is
 * loaded here, only for a Redis feed, so that a verifier on the HTTP feed installs without it.
 */
export async function openRedis(target: { url: string } | { clusterNodes: string }, keyPrefix: string, commandTimeoutMs: number): Promise<RedisClient> {
  const ioredis = await import('ioredis').catch((error: unknown) => {
    throw new Error('the Redis feed needs the package ioredis (npm install ioredis), or use the HTTP feed ({ url, clientId, clientSecret })', { cause: error })
  })
  if ('clusterNodes' in target) return new ioredis.Cluster(redisHosts(target.clusterNodes), failFastClusterOptions(keyPrefix, commandTimeoutMs))
  return new ioredis.Redis(target.url, failFastOptions(keyPrefix, commandTimeoutMs))
}
