import type { Config } from '../config.js'
import type { ClientStore } from './clients/index.js'
import { createPostgresClientStore } from './clients/postgres.js'
import { createSqliteClientStore } from './clients/sqlite.js'
import { createRedisClient } from './redis-connection.js'
import type { RevocationStore } from './revocations/index.js'
import { createRedisRevocationStore } from './revocations/redis.js'
import { createSqliteRevocationStore } from './revocations/sqlite.js'
import type { UserStore } from './users/index.js'
import { createPostgresUserStore } from './users/postgres.js'
import { createSqliteUserStore } from './users/sqlite.js'

/** The backends the settings pick: PostgreSQL with DATABASE_URL, Redis with REDIS_*, SQLite otherwise. */
export async function createUserStore(config: Config): Promise<UserStore> {
  return config.DATABASE_URL === undefined ? createSqliteUserStore(config.DATA_DIR) : createPostgresUserStore(config.DATABASE_URL)
}

export async function createClientStore(config: Config): Promise<ClientStore> {
  return config.DATABASE_URL === undefined ? createSqliteClientStore(config.DATA_DIR) : createPostgresClientStore(config.DATABASE_URL)
}

export interface Logger {
  warn(details: object, message: string): void
}

export async function createRevocationStore(config: Config, log: Logger): Promise<RevocationStore> {
  const redis = createRedisClient(config)
  if (redis === undefined) return createSqliteRevocationStore(config.DATA_DIR)
  // Connection errors are reported per request (503) and by /health/ready; the client keeps retrying.
  let lastReported = 0
  redis.on('error', (error: Error) => {
    if (Date.now() - lastReported < 10_000) return
    lastReported = Date.now()
    log.warn({ err: { message: error.message } }, 'redis connection error')
  })
  // A Redis that is down at boot does not stop the service: it answers 503 until Redis is back.
  await redis.connect().catch((error: Error) => log.warn({ err: { message: error.message } }, 'redis not reachable at boot'))
  return createRedisRevocationStore(redis, {
    keyPrefix: config.REDIS_KEY_PREFIX,
    waitReplicas: config.REDIS_WAIT_REPLICAS,
    waitTimeoutMs: config.REDIS_WAIT_TIMEOUT_MS
  })
}
