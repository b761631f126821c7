import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { openClientAdmin } from '../../src/auth/index.js'
import { loadConfig } from '../../src/config.js'
import type { Target } from './history.js'
import { freePort, RedisServer, ServiceProcess, VerifierHost, type Managed } from './processes.js'

/**
 * What the nemesis runs: a Redis of its own (AOF, fsync on every write), three instances of the service
 * on it and on a PostgreSQL schema of its own (A and B with REVOCATION_CHECK=replicated, C strict), and
 * the verifier library twice, each in a process of its own: over the Redis feed, and over the HTTP feed of
 * instance A. They share one signing key, as the replicas of a deployment do.
 */
export const MAX_LAG_MS = 250
export const AUDIENCE = 'https://api.nemesis.test'
/** The workload's clients' audience: a client token is never for DEFAULT_AUDIENCE, the user tokens' own. */
export const CLIENT_AUDIENCE = 'https://workers.nemesis.test'
export const ISSUER = 'http://auth.nemesis.test'

export interface Cluster {
  redis: RedisServer
  instances: Record<'A' | 'B' | 'C', ServiceProcess>
  libraries: Record<'L-redis' | 'L-http', VerifierHost>
  /** Everything a fault may hit, by name. */
  processes: Map<string, Managed>
  targets: Target[]
  /** The clients' registry, as an operator's CLI reaches it. */
  admin: Awaited<ReturnType<typeof openClientAdmin>>
  /** A client with the introspect privilege (instance B's introspection is one of the targets). */
  introspector: { id: string; secret: string }
  env: Record<string, string>
  close(): Promise<void>
}

export async function startCluster(databaseUrl: string, log: (line: string) => void): Promise<Cluster> {
  const work = mkdtempSync(join(tmpdir(), 'nemesis-'))
  const keyFile = join(work, 'signing.pem')
  writeFileSync(keyFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
  const schema = `nemesis_${randomBytes(4).toString('hex')}`
  const database = new pg.Client({ connectionString: databaseUrl })
  await database.connect()
  await database.query(`CREATE SCHEMA ${schema}`)
  await database.end()

  const redis = new RedisServer(await freePort(), 'aof')
  await redis.start()
  const generous = '1000000'
  const env: Record<string, string> = {
    ISSUER,
    DEFAULT_AUDIENCE: AUDIENCE,
    JWT_PRIVATE_KEY_FILE: keyFile,
    DATABASE_URL: databaseUrl,
    DATABASE_SCHEMA: schema,
    REDIS_URL: redis.url,
    REVOCATION_MAX_LAG_MS: String(MAX_LAG_MS),
    REDIS_COMMAND_TIMEOUT_MS: '500',
    LOG_LEVEL: 'error',
    DOCS: 'false',
    RATE_LIMIT_LOGIN_PER_IP: generous,
    RATE_LIMIT_LOGIN_PER_ACCOUNT: generous,
    RATE_LIMIT_REGISTER_PER_IP: generous,
    RATE_LIMIT_PASSWORD_PER_USER: generous,
    RATE_LIMIT_TOKEN_PER_CLIENT: generous,
    RATE_LIMIT_CLIENT_AUTH_FAILURES: generous
  }
  const admin = await openClientAdmin(loadConfig({ ...env, DATA_DIR: work }), { warn() {} })
  const feedSecret = (await admin.clients.create('nemesis-feed', { scopes: ['feed'], audiences: [], privileges: ['revocations'] })).secret
  const introspector = { id: 'nemesis-introspector', secret: (await admin.clients.create('nemesis-introspector', { scopes: ['introspect'], audiences: [], privileges: ['introspect'] })).secret }

  const instances = {
    A: new ServiceProcess('A', await freePort(), { ...env, REVOCATION_CHECK: 'replicated' }),
    B: new ServiceProcess('B', await freePort(), { ...env, REVOCATION_CHECK: 'replicated' }),
    C: new ServiceProcess('C', await freePort(), env)
  }
  await Promise.all(Object.values(instances).map((instance) => instance.start()))
  const common = { ISSUER, AUDIENCE: `${AUDIENCE},${CLIENT_AUDIENCE}`, JWKS_URI: `${instances.C.url}/.well-known/jwks.json`, MAX_LAG_MS: String(MAX_LAG_MS) }
  const libraries = {
    'L-redis': new VerifierHost('L-redis', { ...common, FEED: JSON.stringify({ redisUrl: redis.url, keyPrefix: 'jwt:' }) }),
    'L-http': new VerifierHost('L-http', { ...common, FEED: JSON.stringify({ url: `${instances.A.url}/oauth/revocations`, clientId: 'nemesis-feed', clientSecret: feedSecret }) })
  }
  await Promise.all(Object.values(libraries).map((library) => library.start()))
  log(`nemesis: redis ${redis.url} (AOF, appendfsync always); A ${instances.A.url} and B ${instances.B.url} replicated, C ${instances.C.url} strict; libraries over Redis and over A's HTTP feed; schema ${schema}`)

  const processes = new Map<string, Managed>([['redis', redis], ...Object.entries(instances), ...Object.entries(libraries)])
  const targets: Target[] = [
    { name: 'A /auth/verify', boundMs: MAX_LAG_MS },
    { name: 'B /auth/verify', boundMs: MAX_LAG_MS },
    { name: 'C /auth/verify', boundMs: 0 },
    { name: 'A /api/user', boundMs: MAX_LAG_MS },
    { name: 'B /oauth/introspect', boundMs: MAX_LAG_MS },
    { name: 'L-redis', boundMs: MAX_LAG_MS },
    { name: 'L-http', boundMs: MAX_LAG_MS }
  ]
  return {
    redis,
    instances,
    libraries,
    processes,
    targets,
    admin,
    introspector,
    env,
    async close() {
      for (const process of processes.values()) process.resume()
      await Promise.all([...Object.values(libraries).map((library) => library.kill()), ...Object.values(instances).map((instance) => instance.remove())])
      await admin.close()
      await redis.remove()
      const cleanup = new pg.Client({ connectionString: databaseUrl })
      await cleanup.connect()
      await cleanup.query(`DROP SCHEMA ${schema} CASCADE`)
      await cleanup.end()
      rmSync(work, { recursive: true, force: true })
    }
  }
}
