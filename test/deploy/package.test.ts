/**
 * `npm pack`: the tarball holds the built service and its CLIs, and nothing of the sources, tests or
 * development scripts, and what it holds starts. The dependencies are this checkout's (a symlink): an install
 * from the registry is the npm client's business, and the suite makes no network call.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'tap'
import { freePort, storeEnv } from '../helper.js'
import { startServer } from '../process.js'

const ROOT = join(import.meta.dirname, '..', '..')

test('npm pack: the built service, its CLIs and Lua scripts, nothing else; and the tarball starts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pack-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // dist/ was built by `pretest`; a plain `npm pack` builds it first (`prepack`).
  const packed = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' })
  t.equal(packed.status, 0, packed.stderr)
  const [{ filename, files }] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }]
  const paths = files.map((file) => file.path)
  for (const needed of ['package.json', 'README.md', 'LICENSE', 'dist/src/server.js', 'dist/scripts/clients.js', 'dist/scripts/keys.js']) {
    t.ok(paths.includes(needed), `it holds ${needed}`)
  }
  t.ok(paths.some((path) => /^dist\/src\/stores\/.*\.lua$/.test(path)), 'and the Lua scripts the stores read')
  const unwanted = paths.filter((path) => /^(src|test|scripts|k8s|examples)\//.test(path) || path.endsWith('.map') || /^dist\/scripts\/(bench|nemesis|revocation-memory)/.test(path))
  t.same(unwanted, [], 'no sources, tests, source maps, deployment files or benchmark and nemesis scripts')

  t.equal(spawnSync('tar', ['-xzf', join(dir, filename), '-C', dir]).status, 0)
  const unpacked = join(dir, 'package')
  t.equal(JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')).name, 'jwt-auth-service')
  symlinkSync(join(ROOT, 'node_modules'), join(unpacked, 'node_modules'))
  const port = await freePort()
  // Redis and PostgreSQL: the Lua scripts are read from the tarball too.
  const env = await storeEnv(t, 'redis-postgres')
  await startServer(t, { ...(env as Record<string, string>), LOG_LEVEL: 'info', PORT: String(port), HOST: '127.0.0.1' }, join(unpacked, 'dist', 'src', 'server.js'))
  const url = `http://127.0.0.1:${port}`
  t.equal((await fetch(`${url}/health/ready`)).status, 200, 'the packed service is ready')
  const password = 'correct horse battery'
  const register = await fetch(`${url}/api/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Packed', email: 'packed@example.com', password, password_confirmation: password })
  })
  t.equal(register.status, 201, 'and registers')
  const login = await fetch(`${url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'packed@example.com', password }) })
  t.equal(login.status, 200, 'and logs in (argon2, and a session in Redis through the Lua scripts)')
})
