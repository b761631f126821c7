/**
 * `npm run bench`: the service side by side with its peers, in one run on one machine.
 *
 * It starts bare Fastify (scripts/bench/bare-fastify.ts: the baseline), oidc-provider
 * (scripts/bench/oidc-provider.ts: the reference Node OAuth server, on the same Redis) and the service,
 * as the Dockerfile runs it but at LOG_LEVEL=warn and with the rate limits raised out of the way; then
 * it loads every scenario in turn with autocannon, BENCH_RUNS times (default 3) of BENCH_SECONDS
 * (default 5), alternating, and reports medians: requests/s, latency, the CPU time each request cost
 * the process that answered it and Redis (from /proc), ratios to bare Fastify and to oidc-provider,
 * refreshes against the raw ES256 limit, logins against raw argon2, the service's RSS idle and at its
 * peak, and Redis bytes per key. The table is printed and written to BENCHMARKS.md.
 *
 * Modes: Redis + PostgreSQL (with the peers), refresh on a Redis with `appendfsync always`, and the
 * embedded defaults (SQLite). BENCH_ONLY=verify,user runs only those scenarios (the baseline always
 * runs; `login` for the logins); BENCH_NODE_ARGS reach the service only (`--cpu-prof --cpu-prof-dir=/tmp/prof`).
 * Needs `npm run build` (done by the npm script), Redis and PostgreSQL (BENCH_REDIS_URL, BENCH_DATABASE_URL).
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import argon2 from 'argon2'
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import pg from 'pg'
import { systemClock, toIso } from '../src/auth/clock.js'
import { es256Rate, type CryptoRate } from './bench/crypto.js'
import { measureFeed, type FeedFigures } from './bench/feed.js'
import { measureFeedStress, type FeedStressFigures } from './bench/feed-stress.js'
import { cpuSeconds, redisPid, rssMb, sleep, Target, withOwnRedis } from './bench/processes.js'
import { imageRuntime } from './image-runtime.js'
import { dpopSigner } from './bench/dpop.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
/** Refresh chains: one per connection, and never fewer than 32. */
const CHAINS = Math.max(32, CONNECTIONS)
const ONLY = process.env.BENCH_ONLY?.split(',')
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const ROOT = join(import.meta.dirname, '..', '..')
const DIST = join(ROOT, 'dist')
const ARGON2 = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const
/** libuv's pool as the service's pod would size it: one thread per CPU. */
const POOL_SIZE = String(cpus().length)
const OIDC_CLIENT = { id: 'bench', secret: randomBytes(16).toString('hex') }
const RESOURCE = 'https://api.example.com'
const EXCHANGE_AUDIENCE = 'https://payments.example.com'
/** Revocations whose propagation through the feed is timed. */
const FEED_REVOCATIONS = 1_000

interface Figures {
  rps: number
  p50: number
  p99: number
  errors: number
  /** CPU µs per request (per refresh, for refresh) of the process that answered, and of Redis. */
  cpuMicros: number
  redisMicros: number
  /** The answering process's peak RSS during the scenario. */
  peakRssMb: number
}
const SCENARIOS = ['bare', 'live', 'verify', 'verifyDpop', 'user', 'userDpop', 'token', 'tokenPrivateKeyJwt', 'tokenPrivateKeyJwtRs256', 'exchange', 'oidcToken', 'introspect', 'oidcIntrospect', 'refresh'] as const
type Scenario = (typeof SCENARIOS)[number]

const NAMES: Record<Scenario, string> = {
  bare: 'bare Fastify, GET /ping (baseline)',
  live: 'GET /health/live',
  verify: 'GET /auth/verify',
  verifyDpop: 'GET /auth/verify, a DPoP-bound token and a fresh proof (forwarded request)',
  user: 'GET /api/user',
  userDpop: 'GET /api/user, a DPoP-bound token and a fresh proof',
  token: 'POST /oauth/token, client credentials',
  tokenPrivateKeyJwt: 'POST /oauth/token, client credentials, private_key_jwt (ES256)',
  tokenPrivateKeyJwtRs256: 'POST /oauth/token, client credentials, private_key_jwt (RS256)',
  exchange: "POST /oauth/token, token exchange of a user's token (RFC 8693)",
  oidcToken: 'oidc-provider POST /token, client credentials, JWT',
  introspect: 'POST /oauth/introspect',
  oidcIntrospect: 'oidc-provider POST /token/introspection, opaque',
  refresh: `POST /api/refresh, ${CHAINS} chains (rotations/s)`
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0

async function json(url: string, init: RequestInit & { form?: boolean }): Promise<Record<string, unknown>> {
  const response = await fetch(url, { ...init, headers: { 'content-type': init.form ? 'application/x-www-form-urlencoded' : 'application/json', ...init.headers } })
  if (!response.ok) throw new Error(`${init.method} ${url}: ${response.status} ${await response.text()}`)
  return (await response.json()) as Record<string, unknown>
}

/**
 * One autocannon run against `target`, with the CPU it and Redis spent. `counted` overrides the number of
 * requests that count (refresh counts rotations, not requests).
 */
async function load(target: Target, redis: number | undefined, options: autocannon.Options, counted?: () => number): Promise<Figures> {
  target.resetWindow()
  const cpuBefore = cpuSeconds(target.pid)
  const redisBefore = redis === undefined ? 0 : cpuSeconds(redis)
  const result = await autocannon({ connections: CONNECTIONS, duration: SECONDS, ...options })
  const requests = counted?.() ?? result.requests.total
  const perRequest = (seconds: number) => (requests === 0 ? 0 : (seconds * 1e6) / requests)
  return {
    rps: counted === undefined ? result.requests.average : requests / SECONDS,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.non2xx + result.errors + result.timeouts,
    cpuMicros: perRequest(cpuSeconds(target.pid) - cpuBefore),
    redisMicros: redis === undefined ? 0 : perRequest(cpuSeconds(redis) - redisBefore),
    peakRssMb: target.windowPeakRssMb
  }
}

const isReady = (path: string) => async (url: string) => (await fetch(`${url}${path}`)).ok

async function startService(env: Record<string, string>): Promise<Target> {
  // As the Dockerfile runs it (its Node flags and memory settings), at LOG_LEVEL=warn.
  const image = imageRuntime()
  const nodeArgs = [...image.nodeArgs, ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [])]
  // TRUST_PROXY: the bench is the service's only peer, and stands for the gateway that forwards a DPoP request.
  const full = { LOG_LEVEL: 'warn', ...image.memoryEnv, UV_THREADPOOL_SIZE: POOL_SIZE, TRUST_PROXY: 'loopback', ...GENEROUS_LIMITS, ...env }
  return Target.start('service', join(DIST, 'src', 'server.js'), full, isReady('/health/ready'), nodeArgs)
}

interface ModeResult {
  label: string
  figures: Partial<Record<Scenario, Figures[]>>
  logins?: Figures
  /** Logins over raw argon2 verifies: the median of the ratios of each login run to the argon2 run right after it. */
  loginRatio?: number
  idleRssMb: number
  peakRssMb: number
  redisBytes?: Record<string, number>
  feed?: FeedFigures
  feedStress?: FeedStressFigures
}

/** One mode: the service on some settings, next to bare Fastify (and oidc-provider), every scenario RUNS times, alternating. */
async function measure(label: string, env: Record<string, string>, options: { only?: readonly Scenario[]; oidc?: boolean; logins?: boolean; feed?: boolean }): Promise<ModeResult> {
  const wanted = (scenario: Scenario) => scenario === 'bare' || ((options.only ?? SCENARIOS).includes(scenario) && (ONLY === undefined || ONLY.includes(scenario)))
  const bare = await Target.start('bare Fastify', join(DIST, 'scripts', 'bench', 'bare-fastify.js'), {}, isReady('/ping'))
  const oidcPrefix = `bench:oidc:${randomBytes(4).toString('hex')}:`
  const oidc = options.oidc
    ? await Target.start('oidc-provider', join(DIST, 'scripts', 'bench', 'oidc-provider.js'), { REDIS_URL: env.REDIS_URL!, REDIS_KEY_PREFIX: oidcPrefix, BENCH_CLIENT_ID: OIDC_CLIENT.id, BENCH_CLIENT_SECRET: OIDC_CLIENT.secret }, isReady('/.well-known/openid-configuration'))
    : undefined
  const service = await startService(env)
  const redis = env.REDIS_URL === undefined ? undefined : await redisPid(env.REDIS_URL)
  try {
    // Idle: started, its first requests served, settled; before any load.
    const password = 'benchmark password'
    const register = async () => {
      const email = `bench-${randomBytes(4).toString('hex')}@example.com`
      await json(`${service.url}/api/register`, { method: 'POST', body: JSON.stringify({ name: 'Bench', email, password, password_confirmation: password }) })
      return email
    }
    const login = async (email: string) => (await json(`${service.url}/api/login`, { method: 'POST', body: JSON.stringify({ email, password }) })).access_token as string
    const email = await register()
    const token = await login(email)
    const created = spawnSync(process.execPath, [join(DIST, 'scripts', 'clients.js'), 'create', 'bench', '--scope', 'a b', '--audience', RESOURCE], { env: service.env, encoding: 'utf8' })
    if (created.status !== 0) throw new Error(`clients create: ${created.stderr}`)
    const secret = (JSON.parse(created.stdout) as { client_secret: string }).client_secret
    const form = { 'content-type': 'application/x-www-form-urlencoded' }
    const ours = { authorization: `Basic ${Buffer.from(`bench:${secret}`).toString('base64')}`, ...form }
    const theirs = { authorization: `Basic ${Buffer.from(`${OIDC_CLIENT.id}:${OIDC_CLIENT.secret}`).toString('base64')}`, ...form }
    const clientToken = (await json(`${service.url}/oauth/token`, { method: 'POST', form: true, headers: ours, body: 'grant_type=client_credentials&scope=a' })).access_token as string
    const exchanger = spawnSync(
      process.execPath,
      [join(DIST, 'scripts', 'clients.js'), 'create', 'bench-exchange', '--scope', 'a b', '--audience', RESOURCE, '--allow', 'exchange', '--exchange-audience', EXCHANGE_AUDIENCE],
      { env: service.env, encoding: 'utf8' }
    )
    if (exchanger.status !== 0) throw new Error(`clients create: ${exchanger.stderr}`)
    const exchangerSecret = (JSON.parse(exchanger.stdout) as { client_secret: string }).client_secret
    const exchangerHeaders = { authorization: `Basic ${Buffer.from(`bench-exchange:${exchangerSecret}`).toString('base64')}`, ...form }
    const exchangeBody = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: token,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      resource: EXCHANGE_AUDIENCE
    }).toString()
    const signers = { ES256: await privateKeyJwtClient(service, 'ES256'), RS256: await privateKeyJwtClient(service, 'RS256') }
    // A session bound to a key (DPoP): the same user's token, used with a fresh proof on every request.
    const issuer = (await json(`${service.url}/.well-known/oauth-authorization-server`, { method: 'GET' })).issuer as string
    const dpop = dpopSigner()
    const [loginProof] = dpop.proofs(1, 'POST', `${issuer}/api/login`)
    const boundToken = (await json(`${service.url}/api/login`, { method: 'POST', headers: { dpop: loginProof! }, body: JSON.stringify({ email, password }) })).access_token as string
    // What a gateway forwards with the token (Traefik, Caddy): the request the client made to it.
    const forwarded = { 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.bench.example', 'x-forwarded-uri': '/orders' }
    const loadWithProofs = (path: string, htu: string, headers: Record<string, string>) => {
      const proofs = dpop.proofs(Math.ceil(SECONDS * 8_000), 'GET', htu, boundToken)
      let next = 0
      return load(service, redis, { url: service.url, requests: [{ method: 'GET', path, setupRequest: (request) => ({ ...request, headers: { ...headers, authorization: `DPoP ${boundToken}`, dpop: proofs[next++ % proofs.length]! } }) }] })
    }
    const opaque = oidc === undefined ? '' : ((await json(`${oidc.url}/token`, { method: 'POST', form: true, headers: theirs, body: 'grant_type=client_credentials&scope=a' })).access_token as string)
    await sleep(2000)
    const idleRssMb = rssMb(service.pid)

    const scenarios: Record<Scenario, () => Promise<Figures>> = {
      bare: () => load(bare, redis, { url: `${bare.url}/ping` }),
      live: () => load(service, redis, { url: `${service.url}/health/live` }),
      verify: () => load(service, redis, { url: `${service.url}/auth/verify`, headers: { authorization: `Bearer ${token}` } }),
      verifyDpop: () => loadWithProofs('/auth/verify', 'https://api.bench.example/orders', forwarded),
      user: () => load(service, redis, { url: `${service.url}/api/user`, headers: { authorization: `Bearer ${token}` } }),
      userDpop: () => loadWithProofs('/api/user', `${issuer}/api/user`, {}),
      token: () => load(service, redis, { url: `${service.url}/oauth/token`, method: 'POST', headers: ours, body: 'grant_type=client_credentials&scope=a' }),
      tokenPrivateKeyJwt: () => loadAssertions(service, redis, signers.ES256),
      tokenPrivateKeyJwtRs256: () => loadAssertions(service, redis, signers.RS256),
      // The same user token each time: each request verifies it (a cached signature, its session's state) and signs a new token.
      exchange: () => load(service, redis, { url: `${service.url}/oauth/token`, method: 'POST', headers: exchangerHeaders, body: exchangeBody }),
      oidcToken: () => load(oidc!, redis, { url: `${oidc!.url}/token`, method: 'POST', headers: theirs, body: `grant_type=client_credentials&scope=a&resource=${encodeURIComponent(RESOURCE)}` }),
      introspect: () => load(service, redis, { url: `${service.url}/oauth/introspect`, method: 'POST', headers: ours, body: `token=${clientToken}` }),
      oidcIntrospect: () => load(oidc!, redis, { url: `${oidc!.url}/token/introspection`, method: 'POST', headers: theirs, body: `token=${opaque}` }),
      refresh: async () => {
        // Fresh sessions each run, one chain per connection: a run ends with refreshes in flight whose
        // children are never read, and refreshing their parents again after the grace is reuse, which
        // (rightly) revokes the session. Each request presents the token of its chain's previous answer;
        // only a new token counts (a repeat within the grace would cost no signature).
        // A user of their own each run: MAX_SESSIONS_PER_USER would otherwise end the oldest sessions,
        // the one whose token the other scenarios present among them.
        const chainUser = await register()
        const chains = await Promise.all(Array.from({ length: CHAINS }, () => login(chainUser)))
        let next = 0
        let rotations = 0
        return load(service, redis, {
          url: service.url,
          connections: CHAINS,
          requests: [
            {
              method: 'POST',
              path: '/api/refresh',
              setupRequest: (request, context: { slot?: number }) => {
                context.slot ??= next++ % chains.length
                return { ...request, headers: { authorization: `Bearer ${chains[context.slot]}` } }
              },
              onResponse: (status: number, body: string, context: { slot?: number }) => {
                if (status !== 200) return
                const child = (JSON.parse(body) as { access_token: string }).access_token
                if (child !== chains[context.slot!]) rotations++
                chains[context.slot!] = child
              }
            }
          ]
        }, () => rotations)
      }
    }
    const figures: Partial<Record<Scenario, Figures[]>> = {}
    for (let run = 0; run < RUNS; run++) {
      for (const scenario of SCENARIOS) {
        if (!wanted(scenario) || (scenario.startsWith('oidc') && oidc === undefined)) continue
        const result = await scenarios[scenario]()
        ;(figures[scenario] ??= []).push(result)
        process.stderr.write(`${label} run ${run + 1} ${scenario}: ${Math.round(result.rps)}/s, ${result.cpuMicros.toFixed(0)} µs CPU, ${result.errors} errors\n`)
      }
    }
    // Logins last (their argon2 buffers would weigh on the other figures' RSS), RUNS times, each followed by a
    // run of raw argon2 on this (shared, noisy) machine: a login's cost is compared with its hash's at the same time.
    const loginRuns: Figures[] = []
    const loginRatios: number[] = []
    const measureLogins = options.logins !== false && (ONLY === undefined || ONLY.includes('login'))
    for (let run = 0; measureLogins && run < RUNS; run++) {
      const figures = await load(service, redis, { url: `${service.url}/api/login`, connections: 8, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) })
      const raw = await argon2Rate(1)
      loginRuns.push(figures)
      loginRatios.push(figures.rps / raw)
      process.stderr.write(`${label} run ${run + 1} login: ${Math.round(figures.rps)}/s, ${figures.cpuMicros.toFixed(0)} µs CPU; raw argon2 ${raw.toFixed(1)}/s\n`)
    }
    const logins = loginRuns.length === 0 ? undefined : [...loginRuns].sort((a, b) => a.rps - b.rps)[Math.floor(loginRuns.length / 2)]
    const loginRatio = loginRatios.length === 0 ? undefined : median(loginRatios)
    const redisBytes = env.REDIS_URL === undefined ? undefined : await redisMemory(env.REDIS_URL, env.REDIS_KEY_PREFIX!)
    const feed = options.feed !== true ? undefined : await measureFeed({
      serviceUrl: service.url,
      redisUrl: env.REDIS_URL!,
      keyPrefix: env.REDIS_KEY_PREFIX!,
      token: await login(await register()),
      issuer,
      count: FEED_REVOCATIONS,
      seconds: SECONDS,
      dist: DIST
    })
    let feedStress: FeedStressFigures | undefined
    if (options.feed === true) {
      const reader = spawnSync(process.execPath, [join(DIST, 'scripts', 'clients.js'), 'create', 'bench-feed', '--scope', 'feed', '--allow', 'revocations'], { env: service.env, encoding: 'utf8' })
      if (reader.status !== 0) throw new Error(`clients create: ${reader.stderr}`)
      const clientSecret = (JSON.parse(reader.stdout) as { client_secret: string }).client_secret
      feedStress = await measureFeedStress({ serviceUrl: service.url, pid: service.pid, redisUrl: env.REDIS_URL!, keyPrefix: env.REDIS_KEY_PREFIX!, clientId: 'bench-feed', clientSecret })
    }
    return { label, figures, logins, loginRatio, idleRssMb, peakRssMb: service.peakRssMb, redisBytes, feed, feedStress }
  } finally {
    await Promise.all([service.stop(), bare.stop(), oidc?.stop()])
    if (oidc !== undefined) await deleteKeys(env.REDIS_URL!, oidcPrefix)
  }
}

/**
 * A client that authenticates with private_key_jwt (an ES256 key, its public half registered with the CLI), and
 * the grant bodies it sends: each with a fresh assertion for the service's issuer.
 */
interface AssertionSigner {
  bodies(count: number): Promise<string[]>
}

/** Client credentials with a private_key_jwt assertion per request. */
async function loadAssertions(service: Target, redis: number | undefined, signer: AssertionSigner): Promise<Figures> {
  // Each assertion's jti is single-use: signed beforehand (not on the clock), one per request, more than a run sends.
  const bodies = await signer.bodies(Math.ceil(SECONDS * 8_000))
  let next = 0
  const form = { 'content-type': 'application/x-www-form-urlencoded' }
  return load(service, redis, {
    url: service.url,
    requests: [{ method: 'POST', path: '/oauth/token', headers: form, setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] }) }]
  })
}

/** A private_key_jwt client whose key signs with `alg`: its cost on the service is mostly that algorithm's verification. */
async function privateKeyJwtClient(service: Target, alg: 'ES256' | 'RS256'): Promise<AssertionSigner> {
  const { privateKey, publicKey } = await generateKeyPair(alg)
  const clientId = `bench-signer-${alg.toLowerCase()}`
  const dir = mkdtempSync(join(tmpdir(), 'bench-keys-'))
  const file = join(dir, 'jwks.json')
  writeFileSync(file, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'bench' }] }))
  const created = spawnSync(process.execPath, [join(DIST, 'scripts', 'clients.js'), 'create', clientId, '--scope', 'a b', '--audience', RESOURCE, '--jwks-file', file], { env: service.env, encoding: 'utf8' })
  rmSync(dir, { recursive: true, force: true })
  if (created.status !== 0) throw new Error(`clients create: ${created.stderr}`)
  const issuer = (await json(`${service.url}/.well-known/oauth-authorization-server`, { method: 'GET' })).issuer as string
  return {
    async bodies(count) {
      const now = Math.floor(Date.now() / 1000)
      return Promise.all(
        Array.from({ length: count }, async () => {
          const assertion = await new SignJWT({ iss: clientId, sub: clientId, aud: issuer, jti: randomBytes(16).toString('base64url'), iat: now, exp: now + 240 })
            .setProtectedHeader({ alg, kid: 'bench' })
            .sign(privateKey)
          return new URLSearchParams({ grant_type: 'client_credentials', scope: 'a', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }).toString()
        })
      )
    }
  }
}

async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url)
  for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 1000 })) if ((keys as string[]).length > 0) await redis.del(...(keys as string[]))
  redis.disconnect()
}

/** Average MEMORY USAGE of each kind of key, from a sample. */
async function redisMemory(url: string, prefix: string): Promise<Record<string, number>> {
  const redis = new Redis(url)
  try {
    const kinds: Record<string, string> = { 'revoked or rotated jti': ':j:', session: ':s:', 'client epoch': ':epoch' }
    const bytes: Record<string, number> = {}
    for (const [name, marker] of Object.entries(kinds)) {
      const keys: string[] = []
      for await (const batch of redis.scanStream({ match: `${prefix}*${marker}*`, count: 1000 })) {
        keys.push(...(batch as string[]))
        if (keys.length >= 200) break
      }
      const sizes = await Promise.all(keys.slice(0, 200).map((key) => redis.memory('USAGE', key)))
      bytes[name] = sizes.length === 0 ? 0 : Math.round(sizes.reduce((sum: number, size) => sum + Number(size ?? 0), 0) / sizes.length)
    }
    return bytes
  } finally {
    redis.disconnect()
  }
}

/** Raw argon2 verifies/s with the service's parameters, on a libuv pool of the same size, 8 at a time: the median of `runs` runs. */
async function argon2Rate(runs = RUNS): Promise<number> {
  const hash = await argon2.hash('benchmark password', ARGON2)
  const rates: number[] = []
  for (let run = 0; run < runs; run++) {
    let done = 0
    const deadline = performance.now() + SECONDS * 1000
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (performance.now() < deadline) {
        await argon2.verify(hash, 'benchmark password')
        done++
      }
    }))
    rates.push(done / SECONDS)
  }
  return median(rates)
}

async function withBenchStores<T>(work: (env: Record<string, string>) => Promise<T>, redisUrl = REDIS_URL): Promise<T> {
  const schema = `bench_${randomBytes(4).toString('hex')}`
  const prefix = `bench:${randomBytes(4).toString('hex')}:`
  const client = new pg.Client({ connectionString: DATABASE_URL })
  await client.connect()
  await client.query(`CREATE SCHEMA ${schema}`)
  try {
    return await work({ DATABASE_URL, DATABASE_SCHEMA: schema, REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix })
  } finally {
    await client.query(`DROP SCHEMA ${schema} CASCADE`)
    await client.end()
    await deleteKeys(redisUrl, prefix)
  }
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

/** A verdict: the measured ratio against its target. */
const verdict = (ratio: number, target: number) => `${fmt(ratio, 2)} (target ≥ ${fmt(target, 2)}: ${ratio >= target ? 'met' : '**not met**'})`

function report(results: ModeResult[], argon2PerSecond: number, crypto: CryptoRate): string {
  const lines: string[] = []
  for (const result of results) {
    const med = (scenario: Scenario, key: keyof Figures) => median((result.figures[scenario] ?? []).map((f) => f[key]))
    const bare = med('bare', 'rps')
    lines.push(
      `### ${result.label}`,
      '',
      '| path | per second (median) | p50 ms | p99 ms | × bare Fastify | × oidc-provider | CPU µs per request | Redis CPU µs per request | peak RSS MB | errors |',
      '|---|---|---|---|---|---|---|---|---|---|'
    )
    const peer: Partial<Record<Scenario, Scenario>> = { token: 'oidcToken', introspect: 'oidcIntrospect' }
    for (const scenario of SCENARIOS) {
      const runs = result.figures[scenario]
      if (runs === undefined || runs.length === 0) continue
      const errors = runs.reduce((sum, f) => sum + f.errors, 0)
      const versus = peer[scenario]
      const oidcRatio = versus !== undefined && result.figures[versus] !== undefined ? fmt(med(scenario, 'rps') / med(versus, 'rps'), 2) : ''
      lines.push(`| ${NAMES[scenario]} | ${fmt(med(scenario, 'rps'))} | ${fmt(med(scenario, 'p50'), 1)} | ${fmt(med(scenario, 'p99'), 1)} | ${fmt(med(scenario, 'rps') / bare, 2)} | ${oidcRatio} | ${fmt(med(scenario, 'cpuMicros'))} | ${fmt(med(scenario, 'redisMicros'), 1)} | ${fmt(Math.max(...runs.map((f) => f.peakRssMb)))} | ${errors} |`)
    }
    if (result.logins !== undefined) {
      const { logins } = result
      lines.push(`| POST /api/login (8 connections) | ${fmt(logins.rps, 1)} | ${fmt(logins.p50, 1)} | ${fmt(logins.p99, 1)} | | | ${fmt(logins.cpuMicros)} | ${fmt(logins.redisMicros, 1)} | ${fmt(logins.peakRssMb)} | ${logins.errors} |`)
    }
    lines.push('', `Service RSS: ${fmt(result.idleRssMb)} MB idle, ${fmt(result.peakRssMb)} MB at its peak over the whole mode${result.logins !== undefined ? ' (logins included)' : ''}.`)
    if (result.redisBytes !== undefined) lines.push(`Redis MEMORY USAGE per key: ${Object.entries(result.redisBytes).map(([name, bytes]) => `${name} ${bytes} B`).join(', ')}.`)
    lines.push('')

    // The performance targets (BENCHMARKS.md), for the modes that measured them.
    const checks: string[] = []
    const ratio = (scenario: Scenario, to: number) => (result.figures[scenario] === undefined ? undefined : med(scenario, 'rps') / to)
    const add = (name: string, value: number | undefined, target: number) => value !== undefined && checks.push(`| ${name} | ${verdict(value, target)} |`)
    add('/health/live × bare Fastify', ratio('live', bare), 0.8)
    const replicated = result.label.includes('replicated')
    add(`/auth/verify (${replicated ? 'replicated' : 'strict'}) × bare Fastify`, ratio('verify', bare), replicated ? 0.75 : 0.5)
    add('/api/user × bare Fastify', ratio('user', bare), 0.4)
    add('DPoP-bound /auth/verify × bearer /auth/verify', ratio('verifyDpop', med('verify', 'rps')), 0.5)
    const userDpopRatio = ratio('userDpop', med('user', 'rps'))
    if (userDpopRatio !== undefined) checks.push(`| DPoP-bound /api/user × bearer /api/user (no target) | ${fmt(userDpopRatio, 2)} |`)
    if (result.figures.oidcToken !== undefined) add('/oauth/token × oidc-provider', ratio('token', med('oidcToken', 'rps')), 3)
    if (result.figures.token !== undefined) {
      add('private_key_jwt (ES256) grant × client_secret_basic grant', ratio('tokenPrivateKeyJwt', med('token', 'rps')), 0.7)
      add('private_key_jwt (RS256) grant × client_secret_basic grant', ratio('tokenPrivateKeyJwtRs256', med('token', 'rps')), 0.7)
      const exchangeRatio = ratio('exchange', med('token', 'rps'))
      if (exchangeRatio !== undefined) checks.push(`| token exchange × client credentials (no target) | ${fmt(exchangeRatio, 2)} |`)
    }
    if (result.figures.oidcIntrospect !== undefined) add('/oauth/introspect × oidc-provider', ratio('introspect', med('oidcIntrospect', 'rps')), 3)
    add('refresh × raw ES256 limit', ratio('refresh', crypto.limitPerSecond), 0.5)
    if (result.loginRatio !== undefined) add('login × raw argon2 (each run against the argon2 run after it; median)', result.loginRatio, 0.9)
    if (checks.length > 0) {
      lines.push('| target | measured |', '|---|---|', ...checks)
      lines.push(`| RSS idle ≤ 100 MB | ${fmt(result.idleRssMb)} MB: ${result.idleRssMb <= 100 ? 'met' : '**not met**'} |`)
      lines.push(`| RSS peak ≤ 160 MB | ${fmt(result.peakRssMb)} MB: ${result.peakRssMb <= 160 ? 'met' : '**not met**'} |`, '')
    }
    if (result.feed !== undefined) {
      const { feed } = result
      const memoryMb = feed.memory.rssMb - feed.memory.rssBeforeMb
      lines.push(
        '| feed target | measured |',
        '|---|---|',
        `| propagation p99 ≤ 10 ms over ≥ 1,000 revocations | ${fmt(feed.propagationP99Ms, 1)} ms (p50 ${fmt(feed.propagationP50Ms, 1)} ms, ${fmt(feed.revocations)} revocations): ${feed.propagationP99Ms <= 10 ? 'met' : '**not met**'} |`,
        `| library ≥ 200,000 verifications/s on one core, token seen before | ${fmt(feed.libraryPerSecond)}/s: ${feed.libraryPerSecond >= 200_000 ? 'met' : '**not met**'} |`,
        `| ≤ 64 MB for 1M live revocations | ${fmt(memoryMb)} MB more RSS (${fmt(feed.memory.bytesPerEntry, 1)} B per revocation in the set; process RSS ${fmt(feed.memory.rssMb)} MB with them, ${fmt(feed.memory.rssBeforeMb)} MB without): ${memoryMb <= 64 ? 'met' : '**not met**'} |`,
        ''
      )
    }
    if (result.feedStress !== undefined) {
      const { feedStress: stress } = result
      lines.push(
        `| feed subscribers, ${fmt(stress.events)} events | measured |`,
        '|---|---|',
        `| one subscriber's snapshot, to \`ready\` | ${fmt(stress.snapshotMs)} ms, ${fmt(stress.snapshotMb, 1)} MB |`,
        `| ten subscribers at once, the slowest to \`ready\` | ${fmt(stress.tenAtOnceMs)} ms |`,
        `| ten reading 1.5 MB/s each: the slowest to \`ready\`; service RSS | ${fmt(stress.slow.readyMs)} ms; ${fmt(stress.slow.rssBeforeMb)} MB before, ${fmt(stress.slow.rssPeakMb)} MB at the peak |`,
        `| ten that never read, for 10 s: service RSS; cut off | ${fmt(stress.stalled.rssBeforeMb)} MB before, ${fmt(stress.stalled.rssPeakMb)} MB at the peak; ${stress.stalled.cut} of 10 cut off |`,
        ''
      )
    }
    if (result.figures.refresh !== undefined) {
      const cpu = med('refresh', 'cpuMicros')
      const cryptoMicros = crypto.signMicros + crypto.verifyMicros
      lines.push(`CPU per refresh: ${fmt(cpu)} µs in the service (${fmt(cryptoMicros)} µs of it the ES256 verify + sign, ${fmt(Math.max(0, cpu - cryptoMicros))} µs framework, stores and the rest), ${fmt(med('refresh', 'redisMicros'), 1)} µs in Redis.`, '')
    }
  }
  lines.push(`Raw ES256 on one core (node:crypto): sign ${fmt(crypto.signMicros, 1)} µs, verify ${fmt(crypto.verifyMicros, 1)} µs: a refresh limit of ${fmt(crypto.limitPerSecond)}/s.`)
  lines.push(`Raw argon2id verifies/s (m=19456, t=2, p=1; 8 at a time on a libuv pool of ${process.env.UV_THREADPOOL_SIZE ?? 4}): ${fmt(argon2PerSecond, 1)}.`)
  return lines.join('\n')
}

async function main(): Promise<void> {
  process.env.UV_THREADPOOL_SIZE ??= POOL_SIZE
  const crypto = es256Rate(SECONDS)
  const results: ModeResult[] = []
  results.push(await withBenchStores((env) => measure('Redis + PostgreSQL, next to bare Fastify and oidc-provider', env, { oidc: true })))
  // The revocation feed: checks from the in-memory replica, and the feed's own figures.
  if (ONLY === undefined || ONLY.some((scenario) => ['verify', 'user', 'introspect', 'feed'].includes(scenario))) {
    results.push(await withBenchStores((env) => measure('Redis + PostgreSQL, REVOCATION_CHECK=replicated', { ...env, REVOCATION_CHECK: 'replicated' }, { only: ['live', 'verify', 'user', 'introspect'], logins: false, feed: true })))
  }
  // The price of durable revocations (README, Durability): every revoking write fsynced before it is acknowledged.
  if (ONLY === undefined || ONLY.includes('refresh')) {
    results.push(await withOwnRedis(['--appendonly', 'yes', '--appendfsync', 'always'], (url) =>
      withBenchStores((env) => measure('Redis with appendfsync always + PostgreSQL (refresh only)', env, { only: ['refresh'], logins: false }), url)
    ))
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-'))
  try {
    results.push(await measure('Embedded defaults (SQLite)', { DATA_DIR: dataDir }, { only: ['live', 'verify', 'verifyDpop', 'user', 'userDpop', 'token', 'exchange', 'introspect', 'refresh'] }))
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
  const argon2PerSecond = await argon2Rate()
  const redisVersion = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim()
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${redisVersion.split(' ').slice(0, 3).join(' ')}`
  const table = report(results, argon2PerSecond, crypto)
  console.log(table)
  const document = readFileSync(join(ROOT, 'BENCHMARKS.md'), 'utf8')
  const start = document.indexOf('<!-- bench:start -->')
  const end = document.indexOf('<!-- bench:end -->')
  if (start >= 0 && end > start) {
    const stamp = `Measured ${toIso(systemClock.now()).slice(0, 10)} on ${machine}; ${RUNS} alternating runs of ${SECONDS} s, ${CONNECTIONS} connections (refresh: ${CHAINS}), autocannon on the same machine as the processes it loads.`
    writeFileSync(join(ROOT, 'BENCHMARKS.md'), `${document.slice(0, start)}<!-- bench:start -->\n${stamp}\n\n${table}\n${document.slice(end)}`)
  }
}

/** The bench measures throughput, not the rate limits. */
const GENEROUS_LIMITS = {
  RATE_LIMIT_LOGIN_PER_IP: '100000000',
  RATE_LIMIT_LOGIN_PER_ACCOUNT: '100000000',
  RATE_LIMIT_TOKEN_PER_CLIENT: '100000000',
  RATE_LIMIT_CLIENT_AUTH_FAILURES: '100000000',
  RATE_LIMIT_LOGIN_FAILURES_PER_ACCOUNT: '100000000',
  RATE_LIMIT_REGISTER_PER_IP: '100000000'
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
