import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'tap'
import { freePort, sleep } from './helper.js'

// The process as `npm start` runs it: the compiled server, with only environment variables.
const SERVER = join(import.meta.dirname, '..', 'dist', 'src', 'server.js')
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
  await sleep(200)
  const ready = await fetch(`http://127.0.0.1:${port}/health/ready`)
  t.equal(ready.status, 503, 'readiness turns 503 first')
  t.match(await ready.json(), { status: 'draining' })
  t.equal((await fetch(`http://127.0.0.1:${port}/health/live`)).status, 200, 'and it still serves during the drain')
  t.equal(await exited, 0, 'a clean exit')
  t.ok(Date.now() - signalled < 6000, 'within the bound')
})

const refusals: [string, Record<string, string>, RegExp][] = [
  ['a bad setting', { PORT: 'eighty' }, /PORT/],
  ['production without a key file', { NODE_ENV: 'production' }, /JWT_PRIVATE_KEY_FILE/]
]
for (const [description, env, message] of refusals) {
  test(`refuses to start with ${description}, naming the setting`, async (t) => {
    const result = spawnSync(process.execPath, [SERVER], {
      env: { PATH: process.env.PATH!, DATA_DIR: mkdtempSync(join(tmpdir(), 'server-test-')), ...env },
      encoding: 'utf8',
      timeout: 20_000
    })
    t.equal(result.status, 1)
    t.match(result.stderr, message)
  })
}

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
