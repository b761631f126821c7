import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Config } from './config.js'
import { withoutPassword } from './settings/urls.js'

type StoreChoice = Record<string, string | number>

/** Where users and clients, and revocations, live, as the settings chose them. Never a password. */
export function describeStores(config: Config): { database: StoreChoice; revocations: StoreChoice } {
  const database: StoreChoice =
    config.DATABASE_URL === undefined
      ? { kind: 'sqlite', data_dir: config.DATA_DIR }
      : { kind: 'postgresql', url: withoutPassword(config.DATABASE_URL), schema: config.DATABASE_SCHEMA }
  // The same precedence as createRedisClient: Cluster, then Sentinel, then one Redis.
  let revocations: StoreChoice
  if (config.REDIS_CLUSTER_NODES !== undefined) revocations = { kind: 'redis', topology: 'cluster', nodes: config.REDIS_CLUSTER_NODES }
  else if (config.REDIS_SENTINELS !== undefined) revocations = { kind: 'redis', topology: 'sentinel', master: config.REDIS_SENTINEL_NAME!, sentinels: config.REDIS_SENTINELS }
  else if (config.REDIS_URL !== undefined) revocations = { kind: 'redis', topology: 'single', url: withoutPassword(config.REDIS_URL) }
  else revocations = { kind: 'sqlite', data_dir: config.DATA_DIR }
  if (revocations.kind === 'redis') revocations.wait_replicas = config.REDIS_WAIT_REPLICAS
  return { database, revocations }
}

/** The URL a listening server answers on, from the socket (the port is the real one when PORT=0). */
export function listenUrl(server: FastifyInstance): string {
  const { address, family, port } = server.server.address() as AddressInfo
  return `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`
}

/**
 * What the process chose, in the one line it logs once it listens: an operator reading a deployment's
 * log sees which stores, key, issuer and ports it runs with, without reading its environment.
 */
export function startupSummary(config: Config, app: FastifyInstance, management?: FastifyInstance) {
  const publicUrl = listenUrl(app)
  const operationsUrl = management === undefined ? publicUrl : listenUrl(management)
  const { alg, kid } = app.auth.keys.signing
  return {
    ...describeStores(config),
    algorithm: alg,
    kid,
    issuer: config.ISSUER,
    default_audience: config.DEFAULT_AUDIENCE,
    listen: publicUrl,
    ...(management === undefined ? {} : { management: operationsUrl }),
    docs: config.DOCS ? `${publicUrl}/docs` : 'off',
    metrics: `${operationsUrl}/metrics`,
    mail: app.auth.mailer.description,
    trust_proxy: config.TRUST_PROXY,
    cors_origins: config.CORS_ORIGINS
  }
}
