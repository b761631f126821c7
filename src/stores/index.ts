import { feedLayout, type FeedEvent, type FeedLayout } from '@jwt-auth-service/verifier/feed'
import type { Config } from '../config.js'
import type { ClientStore } from './clients/index.js'
import { createPostgresClientStore } from './clients/postgres.js'
import { createSqliteClientStore } from './clients/sqlite.js'
import { connectRedis, type Logger, type RedisClient } from './redis-connection.js'
import { createRedisScripts, feedKeepTime } from './redis-scripts.js'
import { openRevocationDatabase } from './revocation-database.js'
import type { SessionStore } from './sessions/index.js'
import { createRedisSessionStore, SESSION_SCRIPTS, userVersionKey } from './sessions/redis.js'
import { createSqliteSessionStore } from './sessions/sqlite.js'
import type { ClientTokenStore } from './client-tokens/index.js'
import { CLIENT_TOKEN_SCRIPTS, clientVersionKey, createRedisClientTokenStore } from './client-tokens/redis.js'
import { createRedisVersions, VERSION_SCRIPTS, type RecordVersions } from './record-versions.js'
import { createSqliteClientTokenStore } from './client-tokens/sqlite.js'
import type { SingleUseStore } from './single-use/index.js'
import { createRedisSingleUseStore, SINGLE_USE_SCRIPTS } from './single-use/redis.js'
import { createSqliteSingleUseStore } from './single-use/sqlite.js'
import type { UserStore } from './users/index.js'
import { createPostgresUserStore } from './users/postgres.js'
import { createSqliteUserStore } from './users/sqlite.js'

/** The backends the settings pick: PostgreSQL with DATABASE_URL, Redis with REDIS_*, SQLite otherwise. */
export async function createUserStore(config: Config): Promise<UserStore> {
  return config.DATABASE_URL === undefined ? createSqliteUserStore(config.DATA_DIR) : createPostgresUserStore(config.DATABASE_URL, config.DATABASE_SCHEMA)
}

export async function createClientStore(config: Config): Promise<ClientStore> {
  return config.DATABASE_URL === undefined ? createSqliteClientStore(config.DATA_DIR) : createPostgresClientStore(config.DATABASE_URL, config.DATABASE_SCHEMA)
}

/** The session and client-token stores, on one backend: Redis when REDIS_* is set, the embedded SQLite file otherwise. */
export interface RevocationStores {
  sessions: SessionStore
  clientTokens: ClientTokenStore
  /** Values used once across instances (client assertions' jti). */
  singleUse: SingleUseStore
  /** With Redis only: the clients' and users' versions, which let instances cache their records (auth/clients.ts, auth/accounts.ts). */
  clientVersions?: RecordVersions
  userVersions?: RecordVersions
  /** With Redis only: where the revocation feed is (the verifier package's feed/protocol.ts). */
  layout?: FeedLayout
  /** Adds a listener told the events of every revoking write this instance made, once Redis ran it. */
  onPublished(listener: (events: FeedEvent[]) => void): void
  /** The Redis connection they share (undefined when embedded); its opener closes it. */
  redis: RedisClient | undefined
  ping(): Promise<void>
  close(): Promise<void>
}

/** `now`: the service's clock, which the embedded store's purge goes by. */
export async function openRevocationStores(config: Config, log: Logger, now: () => number): Promise<RevocationStores> {
  const redis = await connectRedis(config, log, 'revocations')
  if (redis === undefined) {
    const database = openRevocationDatabase(config.DATA_DIR, now)
    return {
      sessions: createSqliteSessionStore(database),
      clientTokens: createSqliteClientTokenStore(database),
      singleUse: createSqliteSingleUseStore(database),
      redis,
      onPublished: () => {},
      ping: database.ping,
      close: database.close
    }
  }
  const listeners: ((events: FeedEvent[]) => void)[] = []
  const published = (events: FeedEvent[]): void => {
    for (const listener of listeners) listener(events)
  }
  const layout = feedLayout(config.REDIS_CLUSTER_NODES !== undefined)
  const feedKeepMs = feedKeepTime(config)
  const scripts = createRedisScripts(redis, [...SESSION_SCRIPTS, ...CLIENT_TOKEN_SCRIPTS, ...VERSION_SCRIPTS, ...SINGLE_USE_SCRIPTS], {
    waitReplicas: config.REDIS_WAIT_REPLICAS,
    waitTimeoutMs: config.REDIS_WAIT_TIMEOUT_MS
  })
  return {
    sessions: createRedisSessionStore(scripts, { keyPrefix: config.REDIS_KEY_PREFIX, layout, tokenLifetimeMs: config.ACCESS_TOKEN_TTL * 1000, feedKeepMs, published }),
    clientTokens: createRedisClientTokenStore(scripts, { layout, feedKeepMs, published }),
    singleUse: createRedisSingleUseStore(scripts),
    clientVersions: createRedisVersions(scripts, clientVersionKey(layout)),
    userVersions: createRedisVersions(scripts, userVersionKey(layout)),
    layout,
    onPublished: (listener) => void listeners.push(listener),
    redis,
    ping: scripts.ping,
    async close() {
      await scripts.close()
      await redis.quit().catch(() => redis.disconnect())
    }
  }
}
