import type { Config } from '../config.js'
import type { ClientStore } from './clients/index.js'
import { createPostgresClientStore } from './clients/postgres.js'
import { createSqliteClientStore } from './clients/sqlite.js'
import { connectRedis, type Logger } from './redis-connection.js'
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

export async function createRevocationStore(config: Config, log: Logger): Promise<RevocationStore> {
  const redis = await connectRedis(config, log, 'revocations')
  if (redis === undefined) return createSqliteRevocationStore(config.DATA_DIR)
  return createRedisRevocationStore(redis, {
    keyPrefix: config.REDIS_KEY_PREFIX,
    waitReplicas: config.REDIS_WAIT_REPLICAS,
    waitTimeoutMs: config.REDIS_WAIT_TIMEOUT_MS
  })
}
