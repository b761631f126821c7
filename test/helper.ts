import { Writable } from 'node:stream'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fp from 'fastify-plugin'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import pg from 'pg'
import type { Test } from 'tap'
import app, { serverOptions } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { loggerOptions } from '../src/logger.js'
import { managementServer } from '../src/management.js'
import type { Clock } from '../src/auth/clock.js'
import type { ClientRegistration } from '../src/schemas/clients.js'
import { openRevocationStores } from '../src/stores/index.js'
import type { StoredTokenState } from '../src/stores/sessions/index.js'

export type TestContext = Test

/** The machine's shared services (README, "Tests"); override with TEST_REDIS_URL / TEST_DATABASE_URL. */
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
export const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Both store configurations the README names: the embedded defaults, and the production path. */
export type StoreMode = 'embedded' | 'redis-postgres'

/**
 * The store configurations each test runs on: both, unless TEST_STORES=embedded (`npm run test:unit`,
 * which runs with no Redis and no PostgreSQL).
 */
export const STORE_MODES: readonly StoreMode[] = process.env.TEST_STORES === 'embedded' ? ['embedded'] : ['embedded', 'redis-postgres']

export type Env = Record<string, string>

const unique = (): string => randomBytes(6).toString('hex')

/**
 * Settings for one test: its own DATA_DIR and, for redis-postgres, its own Redis key prefix and
 * PostgreSQL schema, all removed after the test. Test files run in parallel without sharing data.
 */
export async function storeEnv(t: TestContext, mode: StoreMode, overrides: Env = {}): Promise<Env> {
  const dataDir = mkdtempSync(join(tmpdir(), 'jwt-auth-test-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  // Tests log in many times from one address; the rate-limit tests set their own small limits.
  const generous = '100000'
  const env: Env = {
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    ISSUER: 'http://auth.test',
    RATE_LIMIT_LOGIN_PER_IP: generous,
    RATE_LIMIT_LOGIN_PER_ACCOUNT: generous,
    RATE_LIMIT_REGISTER_PER_IP: generous,
    RATE_LIMIT_PASSWORD_PER_USER: generous,
    RATE_LIMIT_TOKEN_PER_CLIENT: generous,
    RATE_LIMIT_MAIL_PER_EMAIL: generous,
    RATE_LIMIT_MAIL_PER_IP: generous
  }
  if (mode === 'redis-postgres') {
    const schema = `test_${unique()}`
    await withPostgres((client) => client.query(`CREATE SCHEMA ${schema}`))
    t.teardown(() => withPostgres((client) => client.query(`DROP SCHEMA ${schema} CASCADE`)))
    env.DATABASE_URL = POSTGRES_URL
    env.DATABASE_SCHEMA = schema
    env.REDIS_URL = REDIS_URL
    env.REDIS_KEY_PREFIX = `test:${unique()}:`
    t.teardown(() => deleteRedisKeys(REDIS_URL, env.REDIS_KEY_PREFIX!))
  }
  return { ...env, ...overrides }
}

export async function withPostgres<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url)
  try {
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 })) {
      if ((keys as string[]).length > 0) await redis.del(...(keys as string[]))
    }
  } finally {
    redis.disconnect()
  }
}

/** Builds the app (no port) from settings, ready for `inject`, closed after the test; `clock` decides time. */
export async function buildApp(t: TestContext, env: Env, clock?: Clock): Promise<FastifyInstance> {
  const config = loadConfig(env)
  const fastify = Fastify(serverOptions(config))
  t.teardown(() => fastify.close())
  // fp() lifts the app's decorators (the auth core) out of its context, so that tests can reach them.
  await fastify.register(fp(app), { config, clock })
  await fastify.ready()
  return fastify
}

/** buildApp at LOG_LEVEL=info, its log lines captured (one JSON object each). */
export async function buildLoggedApp(t: TestContext, env: Env, clock?: Clock): Promise<{ app: FastifyInstance; lines: string[] }> {
  const config = loadConfig({ ...env, LOG_LEVEL: 'info' })
  const { stream, lines } = logLines()
  const fastify = Fastify({ ...serverOptions(config), ...loggerOptions(config, stream) })
  t.teardown(() => fastify.close())
  await fastify.register(fp(app), { config, clock })
  await fastify.ready()
  return { app: fastify, lines }
}

/** The admin API's token in the tests (README, "Admin API"), and its header. */
export const ADMIN = { token: randomBytes(32).toString('base64url'), get headers() { return { authorization: `Bearer ${this.token}` } } }

/**
 * The app (the public port, for inject) and its management listener with the admin API, as server.ts builds
 * them (ADMIN_TOKEN_FILE in DATA_DIR holds ADMIN.token); the app's log lines. `listen`: the management listener
 * on a loopback port too, at `managementUrl`.
 */
export async function buildAdminApp(
  t: TestContext,
  mode: StoreMode,
  overrides: Env = {},
  options: { listen?: boolean } = {}
): Promise<{ app: FastifyInstance; management: FastifyInstance; lines: string[]; env: Env; tokenFile: string; managementUrl: string }> {
  const env = await storeEnv(t, mode, { MANAGEMENT_PORT: '9', ...overrides })
  const tokenFile = join(env.DATA_DIR!, 'admin-token')
  writeFileSync(tokenFile, `${ADMIN.token}\n`)
  env.ADMIN_TOKEN_FILE = tokenFile
  const { app, lines } = await buildLoggedApp(t, env)
  const management = await managementServer(app)
  t.teardown(() => management.close())
  let managementUrl = ''
  if (options.listen === true) {
    await management.listen({ port: 0, host: '127.0.0.1' })
    managementUrl = `http://127.0.0.1:${(management.server.address() as AddressInfo).port}`
  }
  return { app, management, lines, env, tokenFile, managementUrl }
}

/** storeEnv + buildApp, for the common case of one instance. */
export async function buildTestApp(t: TestContext, mode: StoreMode, overrides: Env = {}, clock?: Clock): Promise<FastifyInstance> {
  return buildApp(t, await storeEnv(t, mode, overrides), clock)
}

/** Two instances listening on loopback with the same stores, and one ISSUER: A's address. */
export async function listeningPair(t: TestContext, mode: StoreMode, overrides: Env = {}): Promise<{ a: FastifyInstance; b: FastifyInstance; env: Env; issuer: string; urlB: string }> {
  const [portA, portB] = [await freePort(), await freePort()]
  const issuer = `http://127.0.0.1:${portA}`
  const env = await storeEnv(t, mode, { ISSUER: issuer, ...overrides })
  const a = await buildApp(t, env)
  const b = await buildApp(t, env)
  await a.listen({ port: portA, host: '127.0.0.1' })
  await b.listen({ port: portB, host: '127.0.0.1' })
  return { a, b, env, issuer, urlB: `http://127.0.0.1:${portB}` }
}

export interface Account {
  email: string
  password: string
  token: string
  body: { access_token: string; token_type: string; expires_in: number }
}

let accounts = 0

/** Registers a new user and logs in. */
export async function registerAndLogin(fastify: FastifyInstance, fields: { email?: string; password?: string } = {}): Promise<Account> {
  const email = fields.email ?? `user${++accounts}.${unique()}@example.com`
  const password = fields.password ?? 'correct horse battery'
  const registered = await fastify.inject({
    method: 'POST',
    url: '/api/register',
    payload: { name: 'Test User', email, password, password_confirmation: password }
  })
  if (registered.statusCode !== 201) throw new Error(`register: ${registered.statusCode} ${registered.body}`)
  const token = await login(fastify, email, password)
  return { email, password, token: token.access_token, body: token }
}

export async function login(fastify: FastifyInstance, email: string, password: string): Promise<Account['body']> {
  const response = await fastify.inject({ method: 'POST', url: '/api/login', payload: { email, password } })
  if (response.statusCode !== 200) throw new Error(`login: ${response.statusCode} ${response.body}`)
  return response.json()
}

export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` }
}

/** The claims of a token, without verifying it. */
export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>
}

/** What the session store of `env` holds for `token` and its user: asked of the store, never of its keys or tables. */
export async function storedTokenState(env: Env, token: string): Promise<StoredTokenState> {
  const { sub, sid, jti, exp } = claimsOf(token) as { sub: string; sid: string; jti: string; exp: number }
  const stores = await openRevocationStores(loadConfig(env), { warn() {} }, Date.now)
  try {
    return await stores.sessions.inspect({ sub, sid, jti, exp }, Date.now())
  } finally {
    await stores.close()
  }
}

/** Asserts the service's error shape, the status and the code; a 401 must carry a Bearer challenge. */
export function assertError(t: TestContext, response: LightMyRequestResponse | { statusCode: number; headers: Record<string, unknown>; json(): unknown }, status: number, code: string): void {
  t.equal(response.statusCode, status, `status ${status}`)
  const body = response.json() as Record<string, unknown>
  t.match(body, { statusCode: status, error: String, code, message: String }, `error body with code ${code}`)
  if (status === 401) t.match(response.headers['www-authenticate'], /^Bearer /, 'WWW-Authenticate: Bearer')
  if (status === 503) t.match(response.headers['retry-after'], /^\d+$/, 'Retry-After')
}

/**
 * A request to a verifier that answers 503 while its revocation feed is stale (by design: never a pass), asked
 * again until it answers something else, for at most `timeoutMs`: for the cases that are not about staleness.
 */
export async function answeredWhileFresh(request: () => Promise<Response>, timeoutMs = 5_000): Promise<Response> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const response = await request()
    if (response.status !== 503 || performance.now() > deadline) return response
    await sleep(20)
  }
}

/** A TCP port nobody listens on right now (for a service that is meant to be unreachable, or to start). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `check` until it passes (a store reconnecting, a failover); throws after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    // A poll: what it waits for happens in real processes or on real connections (a reconnect, a failover, a feed).
    await sleep(100)
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** The audience test clients get unless a test names theirs: a client token is never for DEFAULT_AUDIENCE. */
export const CLIENT_AUDIENCE = 'https://api.clients.test'
/** The query by which a gateway in front of CLIENT_AUDIENCE names it to /auth/verify; and that URL. */
export const CLIENT_AUDIENCE_QUERY = `?audience=${encodeURIComponent(CLIENT_AUDIENCE)}`
export const CLIENT_VERIFY_URL = `/auth/verify${CLIENT_AUDIENCE_QUERY}`

/** A client (service account) in the app's own store; returns its secret. */
export async function createClient(fastify: FastifyInstance, clientId: string, scopes: string[], more: Partial<Omit<ClientRegistration, 'credential'>> = {}): Promise<string> {
  return (await fastify.auth.clients.create(clientId, { scopes, audiences: [CLIENT_AUDIENCE], privileges: [], ...more })).secret
}

export function basic(clientId: string, secret: string): { authorization: string } {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+')
  return { authorization: `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}` }
}

/** A form-encoded POST, as OAuth clients send it. */
export function form(url: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return { method: 'POST' as const, url, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, payload: new URLSearchParams(fields).toString() }
}

/** Asserts RFC 6749 §5.2's error form. */
export function assertOAuthError(t: TestContext, response: LightMyRequestResponse, status: number, error: string): void {
  t.equal(response.statusCode, status, `status ${status}`)
  const body = response.json() as Record<string, unknown>
  t.equal(body.error, error, `error ${error}`)
  t.type(body.error_description, 'string')
  t.equal(response.headers['cache-control'], 'no-store')
}

/** A stream for the logger to write into, and the lines it wrote (one JSON object each). */
export function logLines(): { stream: Writable; lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean))
      done()
    }
  })
  return { stream, lines }
}
