/**
 * `npm run bench`: starts the service itself (Redis + PostgreSQL, then the embedded defaults), loads it
 * with autocannon, and measures in one run, on the same server:
 *   - GET /health/live (the bare-Fastify baseline), GET /auth/verify and GET /api/user with a valid token;
 *   - refreshes/s, each connection refreshing its own session's chain;
 *   - client-credentials grants/s;
 *   - logins/s next to raw argon2 verifies/s at the same parameters and libuv pool size;
 *   - the service's RSS under load, and Redis bytes per revoked token (MEMORY USAGE).
 * Scenarios alternate and repeat (BENCH_RUNS, default 3, of BENCH_SECONDS, default 5); medians and
 * ratios are printed and written to BENCHMARKS.md.
 * Needs `npm run build` (done by the npm script) and, for the first mode, Redis and PostgreSQL
 * (BENCH_REDIS_URL, BENCH_DATABASE_URL; the machine's defaults otherwise).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import argon2 from 'argon2'
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import pg from 'pg'
import { systemClock, toIso } from '../src/auth/clock.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
/** Only these scenarios, e.g. BENCH_ONLY=refresh,token while profiling. */
const ONLY = process.env.BENCH_ONLY?.split(',')
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const ROOT = join(import.meta.dirname, '..', '..')
const ARGON2 = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const

interface Figures {
  rps: number
  p50: number
  p99: number
  errors: number
}
type Scenario = 'live' | 'verify' | 'user' | 'refresh' | 'token'

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

class Service {
  private constructor(readonly url: string, readonly process: ChildProcess, readonly env: Record<string, string>) {}
  maxRssMb = 0
  private sampler: NodeJS.Timeout | undefined

  static async start(env: Record<string, string>): Promise<Service> {
    const port = await freePort()
    // As the Dockerfile runs it: info logs, and MALLOC_ARENA_MAX=2.
    const full = { PATH: process.env.PATH!, PORT: String(port), ISSUER: `http://127.0.0.1:${port}`, LOG_LEVEL: 'info', MALLOC_ARENA_MAX: '2', ...env }
    // BENCH_NODE_ARGS reach the service only, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it.
    const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []
    // Its logs (stdout) are written, as in production, and thrown away here.
    const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'dist', 'src', 'server.js')], { env: full, stdio: ['ignore', 'ignore', 'inherit'] })
    const service = new Service(`http://127.0.0.1:${port}`, child, full)
    for (let i = 0; i < 100; i++) {
      if (await fetch(`${service.url}/health/ready`).then((r) => r.ok, () => false)) {
        service.sampler = setInterval(() => service.sampleRss(), 250)
        return service
      }
      await sleep(100)
    }
    throw new Error('the service did not become ready')
  }

  private sampleRss(): void {
    try {
      const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${this.process.pid}/status`, 'utf8'))?.[1] ?? 0)
      this.maxRssMb = Math.max(this.maxRssMb, kb / 1024)
    } catch {
      // the process is gone
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.sampler)
    const exited = new Promise((resolve) => this.process.once('exit', resolve))
    this.process.kill('SIGTERM')
    await exited
  }
}

async function json(url: string, init: RequestInit): Promise<Record<string, unknown>> {
  const response = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...init.headers } })
  if (!response.ok) throw new Error(`${init.method} ${url}: ${response.status} ${await response.text()}`)
  return (await response.json()) as Record<string, unknown>
}

async function load(options: autocannon.Options): Promise<Figures> {
  const result = await autocannon({ connections: CONNECTIONS, duration: SECONDS, ...options })
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.non2xx + result.errors + result.timeouts }
}

/** One mode: the service on some settings, every scenario RUNS times, alternating. */
async function measure(
  label: string,
  env: Record<string, string>,
  only: Scenario[] | undefined = ONLY as Scenario[] | undefined
): Promise<{ label: string; figures: Record<Scenario, Figures[]>; logins?: Figures; rssMb: number; redisBytes?: Record<string, number> }> {
  const service = await Service.start(env)
  try {
    const password = 'benchmark password'
    const email = `bench-${randomBytes(4).toString('hex')}@example.com`
    await json(`${service.url}/api/register`, { method: 'POST', body: JSON.stringify({ name: 'Bench', email, password, password_confirmation: password }) })
    const login = async () => (await json(`${service.url}/api/login`, { method: 'POST', body: JSON.stringify({ email, password }) })).access_token as string
    const token = await login()
    const created = spawnSync(process.execPath, [join(ROOT, 'dist', 'scripts', 'clients.js'), 'create', 'bench', '--scope', 'a b'], { env: service.env, encoding: 'utf8' })
    if (created.status !== 0) throw new Error(`clients create: ${created.stderr}`)
    const secret = (JSON.parse(created.stdout) as { client_secret: string }).client_secret
    const basic = `Basic ${Buffer.from(`bench:${secret}`).toString('base64')}`

    const scenarios: Record<Scenario, () => Promise<Figures>> = {
      live: () => load({ url: `${service.url}/health/live` }),
      verify: () => load({ url: `${service.url}/auth/verify`, headers: { authorization: `Bearer ${token}` } }),
      user: () => load({ url: `${service.url}/api/user`, headers: { authorization: `Bearer ${token}` } }),
      refresh: async () => {
        // Fresh sessions, one per connection, each refreshing a chain of its own. Fresh each run: the
        // previous run ends with refreshes in flight whose children were never read, and refreshing
        // their parents again after the grace is reuse, which revokes the session (as it should).
        const chains = await Promise.all(Array.from({ length: CONNECTIONS }, login))
        let next = 0
        return load({
          url: service.url,
          requests: [
            {
              method: 'POST',
              path: '/api/refresh',
              setupRequest: (request, context: { slot?: number }) => {
                context.slot ??= next++ % chains.length
                return { ...request, headers: { authorization: `Bearer ${chains[context.slot]}` } }
              },
              onResponse: (status: number, body: string, context: { slot?: number }) => {
                if (status === 200) chains[context.slot!] = (JSON.parse(body) as { access_token: string }).access_token
              }
            }
          ]
        })
      },
      token: () =>
        load({
          url: `${service.url}/oauth/token`,
          method: 'POST',
          headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials'
        })
    }
    const figures = { live: [], verify: [], user: [], refresh: [], token: [] } as Record<Scenario, Figures[]>
    for (let run = 0; run < RUNS; run++) {
      for (const scenario of Object.keys(scenarios) as Scenario[]) {
        if (only !== undefined && !only.includes(scenario)) continue
        figures[scenario].push(await scenarios[scenario]())
        process.stderr.write(`${label} run ${run + 1} ${scenario}: ${Math.round(figures[scenario].at(-1)!.rps)} req/s\n`)
      }
    }
    const logins = only !== undefined ? undefined : await load({
      url: `${service.url}/api/login`,
      connections: 8,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password })
    })
    const redisBytes = env.REDIS_URL === undefined ? undefined : await redisMemory(env.REDIS_URL, env.REDIS_KEY_PREFIX!)
    return { label, figures, logins, rssMb: service.maxRssMb, redisBytes }
  } finally {
    await service.stop()
  }
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

/** Raw argon2 verifies/s with the same parameters, on a libuv pool of the same size, 8 at a time. */
async function argon2Rate(): Promise<number> {
  const hash = await argon2.hash('benchmark password', ARGON2)
  let done = 0
  const deadline = performance.now() + SECONDS * 1000
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (performance.now() < deadline) {
      await argon2.verify(hash, 'benchmark password')
      done++
    }
  }))
  return done / SECONDS
}

async function withBenchStores<T>(work: (env: Record<string, string>) => Promise<T>, redisUrl = REDIS_URL): Promise<T> {
  const schema = `bench_${randomBytes(4).toString('hex')}`
  const prefix = `bench:${randomBytes(4).toString('hex')}:`
  const client = new pg.Client({ connectionString: DATABASE_URL })
  await client.connect()
  await client.query(`CREATE SCHEMA ${schema}`)
  try {
    return await work({
      DATABASE_URL,
      DATABASE_SCHEMA: schema,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix
    })
  } finally {
    await client.query(`DROP SCHEMA ${schema} CASCADE`)
    await client.end()
    const redis = new Redis(redisUrl)
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 1000 })) if ((keys as string[]).length > 0) await redis.del(...(keys as string[]))
    redis.disconnect()
  }
}

/** A redis-server of the bench's own, on a free port and a scratch directory, with `args` (e.g. AOF settings). */
async function withOwnRedis<T>(args: string[], work: (url: string) => Promise<T>): Promise<T> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'))
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...args], { stdio: 'ignore' })
  const url = `redis://127.0.0.1:${port}`
  try {
    const ready = async (): Promise<boolean> => {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      const answered = await probe.ping().then(() => true, () => false)
      probe.disconnect()
      return answered
    }
    for (let i = 0; i < 50 && !(await ready()); i++) await sleep(100)
    return await work(url)
  } finally {
    server.kill('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  }
}

function report(results: Awaited<ReturnType<typeof measure>>[], argon2PerSecond: number): string {
  const lines: string[] = []
  const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
  for (const result of results) {
    const med = (scenario: Scenario, key: keyof Figures) => median(result.figures[scenario].map((f) => f[key]))
    // Without the baseline in this mode, ratios are to the first mode's (the same machine, the same run).
    const baseline = result.figures.live.length > 0 ? med('live', 'rps') : median(results[0]!.figures.live.map((f) => f.rps))
    lines.push(`### ${result.label}`, '', '| path | requests/s (median) | p50 ms | p99 ms | ratio to /health/live | errors |', '|---|---|---|---|---|---|')
    const names: Record<Scenario, string> = {
      live: 'GET /health/live (baseline)',
      verify: 'GET /auth/verify, valid token',
      user: 'GET /api/user, valid token',
      refresh: `POST /api/refresh, ${CONNECTIONS} sessions each on its own chain`,
      token: 'POST /oauth/token, client credentials'
    }
    for (const scenario of Object.keys(names) as Scenario[]) {
      if (result.figures[scenario].length === 0) continue
      const errors = result.figures[scenario].reduce((sum, f) => sum + f.errors, 0)
      lines.push(`| ${names[scenario]} | ${fmt(med(scenario, 'rps'))} | ${fmt(med(scenario, 'p50'), 1)} | ${fmt(med(scenario, 'p99'), 1)} | ${fmt((100 * med(scenario, 'rps')) / baseline)}% | ${errors} |`)
    }
    if (result.logins !== undefined) {
      const { logins } = result
      lines.push(`| POST /api/login (8 connections) | ${fmt(logins.rps)} | ${fmt(logins.p50, 1)} | ${fmt(logins.p99, 1)} | ${fmt((100 * logins.rps) / argon2PerSecond)}% of raw argon2 | ${logins.errors} |`)
    }
    lines.push('', `RSS of the service under load (max): ${fmt(result.rssMb)} MB.`)
    if (result.redisBytes !== undefined) {
      lines.push(`Redis MEMORY USAGE per key: ${Object.entries(result.redisBytes).map(([name, bytes]) => `${name} ${bytes} B`).join(', ')}.`)
    }
    lines.push('')
  }
  lines.push(`Raw argon2id verifies/s (m=19456, t=2, p=1; 8 at a time on a libuv pool of ${process.env.UV_THREADPOOL_SIZE ?? 4}): ${fmt(argon2PerSecond, 1)}.`)
  return lines.join('\n')
}

async function main(): Promise<void> {
  const results = []
  results.push(await withBenchStores((env) => measure('Redis + PostgreSQL', { ...env, ...GENEROUS_LIMITS })))
  // The price of durable revocations (README, Durability): every revoking write fsynced before it is acknowledged.
  if (ONLY === undefined || ONLY.includes('refresh')) {
    const fsync = await withOwnRedis(['--appendonly', 'yes', '--appendfsync', 'always'], (url) =>
      withBenchStores((env) => measure('Redis with appendfsync always + PostgreSQL (refresh only)', { ...env, ...GENEROUS_LIMITS }, ['live', 'refresh']), url)
    )
    results.push(fsync)
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-'))
  try {
    results.push(await measure('Embedded defaults (SQLite)', { DATA_DIR: dataDir, ...GENEROUS_LIMITS }))
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
  const argon2PerSecond = await argon2Rate()
  const redisVersion = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim()
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${redisVersion.split(' ').slice(0, 3).join(' ')}`
  const table = report(results, argon2PerSecond)
  console.log(table)
  const document = readFileSync(join(ROOT, 'BENCHMARKS.md'), 'utf8')
  const start = document.indexOf('<!-- bench:start -->')
  const end = document.indexOf('<!-- bench:end -->')
  if (start >= 0 && end > start) {
    const stamp = `Measured ${toIso(systemClock.now()).slice(0, 10)} on ${machine}; ${RUNS} alternating runs of ${SECONDS} s, ${CONNECTIONS} connections, autocannon in the same machine as the service.`
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
