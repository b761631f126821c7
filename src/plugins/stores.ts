import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { createRedisClient } from '../stores/redis-connection.js'
import type { RevocationStore } from '../stores/revocations/index.js'
import { createRedisRevocationStore } from '../stores/revocations/redis.js'
import { createSqliteRevocationStore } from '../stores/revocations/sqlite.js'
import type { UserStore } from '../stores/users/index.js'
import { createPostgresUserStore } from '../stores/users/postgres.js'
import { createSqliteUserStore } from '../stores/users/sqlite.js'

declare module 'fastify' {
  interface FastifyInstance {
    users: UserStore
    revocations: RevocationStore
  }
}

async function createUserStore(config: Config): Promise<UserStore> {
  return config.DATABASE_URL === undefined
    ? createSqliteUserStore(config.DATA_DIR)
    : createPostgresUserStore(config.DATABASE_URL)
}

async function createRevocationStore(config: Config, log: { warn(o: object, m: string): void }): Promise<RevocationStore> {
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

/** Picks the backends from the settings; the rest of the code sees only the repository interfaces. */
export default fp(
  async function stores(fastify) {
    const { config } = fastify
    const users = await createUserStore(config)
    const revocations = await createRevocationStore(config, fastify.log)
    fastify.decorate('users', users)
    fastify.decorate('revocations', revocations)
    fastify.addHook('onClose', async () => {
      await Promise.allSettled([users.close(), revocations.close()])
    })
  },
  { name: 'stores', dependencies: ['config'] }
)
