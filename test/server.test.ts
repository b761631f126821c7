import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'tap'
import { freePort, POSTGRES_URL, REDIS_URL, sleep, withPostgres } from './helper.js'
import { SERVER, startServer } from './process.js'

const KEYS = join(import.meta.dirname, '..', 'dist', 'scripts', 'keys.js')

function run(env: Record<string, string>) {
  return spawn(process.execPath, [SERVER], { env: { PATH: process.env.PATH!, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
}

test('serves on the embedded defaults; on SIGTERM drains (ready 503), then exits 0', async (t) => {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'server-test-'))
  const child = run({ PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'warn', SHUTDOWN_DRAIN_SECONDS: '1' })
  let up = false
  for (let attempt = 0; attempt < 100 && !up; attempt++) {
    // Waits for a real process to listen.
    await sleep(100)
    up = await fetch(`http://127.0.0.1:${port}/health/live`).then((r) => r.ok, () => false)
  }
  t.ok(up, 'listening')
  const register = await fetch(`http://127.0.0.1:${port}/api/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'P', email: 'p@example.com', password: 'password1', password_confirmation: 'password1' })
  })
  t.equal(register.status, 201)
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  const signalled = Date.now()
  child.kill('SIGTERM')
  // Waits for the process to handle its signal (SHUTDOWN_DRAIN_SECONDS=1 keeps it serving meanwhile).
  await sleep(200)
  const ready = await fetch(`http://127.0.0.1:${port}/health/ready`)
  t.equal(ready.status, 503, 'readiness turns 503 first')
  t.match(await ready.json(), { status: 'draining' })
  t.equal((await fetch(`http://127.0.0.1:${port}/health/live`)).status, 200, 'and it still serves during the drain')
  t.equal(await exited, 0, 'a clean exit')
  t.ok(Date.now() - signalled < 6000, 'within the bound')
})

test('logs one start-up line: stores, key, issuer, audience, listeners, docs and metrics; never a password', async (t) => {
  const [port, management] = [await freePort(), await freePort()]
  const schema = `test_startup_${process.pid}`
  t.teardown(() => withPostgres((client) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)))
  // PostgreSQL here trusts local connections: the password is ignored, and must not be logged.
  const database = new URL(POSTGRES_URL)
  database.password = 'hunter2'
  const { started, logs } = await startServer(t, {
    PORT: String(port),
    MANAGEMENT_PORT: String(management),
    DATABASE_URL: database.toString(),
    DATABASE_SCHEMA: schema,
    REDIS_URL: REDIS_URL,
    REDIS_KEY_PREFIX: `test:startup:${process.pid}:`,
    ISSUER: 'https://auth.example.com',
    DEFAULT_AUDIENCE: 'https://api.example.com',
    JWT_ALGORITHM: 'EdDSA',
    // Not connected at start: the line names the transport, without its password.
    SMTP_URL: 'smtp://mailer:hunter2@127.0.0.1:2525'
  })
  t.match(started, {
    level: 30,
    database: { kind: 'postgresql', url: /^postgres:\/\/postgres:redacted@127\.0\.0\.1:5432\//, schema },
    revocations: { kind: 'redis', topology: 'single', url: REDIS_URL },
    algorithm: 'EdDSA',
    kid: /^[\w-]{43}$/,
    issuer: 'https://auth.example.com',
    default_audience: 'https://api.example.com',
    listen: `http://127.0.0.1:${port}`,
    management: `http://127.0.0.1:${management}`,
    docs: `http://127.0.0.1:${port}/docs`,
    metrics: `http://127.0.0.1:${management}/metrics`,
    mail: 'smtp://mailer:redacted@127.0.0.1:2525'
  })
  t.equal(logs.filter((line) => line.msg === 'jwt-auth-service started').length, 1, 'one line')
  t.notMatch(JSON.stringify(logs), /hunter2/, 'no password anywhere in the log')
  const jwks = (await (await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }
  t.equal(jwks.keys[0]!.kid, started.kid, 'the kid is the signing key\'s')
})

test('Redis down at boot: one plain warning line naming REDIS_URL (no password), and the service starts fail-closed', async (t) => {
  const [port, redisPort] = [await freePort(), await freePort()]
  const { started, stderr, logs } = await startServer(t, { PORT: String(port), REDIS_URL: `redis://service:hunter2@127.0.0.1:${redisPort}` })
  t.ok(started, 'it starts')
  const warnings = stderr().split('\n').filter((line) => line.startsWith('jwt-auth-service: warning:'))
  t.equal(warnings.length, 1, `one line: ${stderr()}`)
  t.match(warnings[0], new RegExp(`Redis is not reachable at REDIS_URL=redis://service:redacted@127\\.0\\.0\\.1:${redisPort} \\(.+\\); starting fail-closed`))
  t.notMatch(stderr() + JSON.stringify(logs), /hunter2/, 'no password anywhere')
  const url = `http://127.0.0.1:${port}`
  t.equal((await fetch(`${url}/health/live`)).status, 200, 'alive')
  t.equal((await fetch(`${url}/health/ready`)).status, 503, 'not ready while Redis is away')
})

test('a trailing slash on ISSUER is dropped: no advertised URL has //', async (t) => {
  const port = await freePort()
  await startServer(t, { PORT: String(port), ISSUER: `http://127.0.0.1:${port}/` })
  const metadata = (await (await fetch(`http://127.0.0.1:${port}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>
  t.equal(metadata.issuer, `http://127.0.0.1:${port}`)
  t.equal(metadata.jwks_uri, `http://127.0.0.1:${port}/.well-known/jwks.json`)
  const urls = Object.values(metadata).filter((value): value is string => typeof value === 'string' && value.startsWith('http'))
  t.same(urls.filter((value) => value.slice('http://'.length).includes('//')), [], 'no // after the scheme')
  t.equal((await fetch(metadata.jwks_uri as string)).status, 200, 'the advertised JWKS answers')
})

test('the start-up line of the embedded defaults', async (t) => {
  const port = await freePort()
  const { started } = await startServer(t, { PORT: String(port), DOCS: 'false' })
  t.match(started, {
    database: { kind: 'sqlite', data_dir: String },
    revocations: { kind: 'sqlite', data_dir: String },
    algorithm: 'ES256',
    issuer: `http://localhost:${port}`,
    default_audience: `http://localhost:${port}`,
    listen: `http://127.0.0.1:${port}`,
    docs: 'off',
    metrics: `http://127.0.0.1:${port}/metrics`,
    mail: 'to the log (no SMTP_URL; development only)'
  })
  t.notOk('management' in started, 'no management listener')
})

test('npm run keys writes a 0600 key the service accepts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keys-script-'))
  const out = join(dir, 'signing.pem')
  const result = spawnSync(process.execPath, [KEYS, '--alg', 'EdDSA', '--out', out], { encoding: 'utf8' })
  t.equal(result.status, 0, result.stderr)
  const printed = JSON.parse(result.stdout)
  t.match(printed, { alg: 'EdDSA', kid: String, public_jwk: { kty: 'OKP', crv: 'Ed25519' } })
  t.notMatch(result.stdout, /PRIVATE KEY/, 'the private key is not printed')
  t.match(readFileSync(out, 'utf8'), /BEGIN PRIVATE KEY/)
  const again = spawnSync(process.execPath, [KEYS, '--out', out], { encoding: 'utf8' })
  t.equal(again.status, 1, 'an existing key file is never overwritten')
})
