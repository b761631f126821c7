/**
 * The CLIs in a production install laid out as the image has it (Dockerfile): dist/, the verifier package's
 * dist/, package.json, and the dependencies of `npm ci --omit=dev`, with no TypeScript and no sources. Here the
 * dependencies are this checkout's, hard-linked and pruned with `npm prune --omit=dev --offline`: the same tree
 * as the lockfile gives, with no network call. `npm run -s clients` and `users` must not try to build.
 */
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'tap'

const ROOT = join(import.meta.dirname, '..', '..')

test('npm run -s clients and users work in a production install without a build step', async (t) => {
  // A copy, a prune and a few npm processes: more than tap's 60 s on a busy 2-core machine.
  t.setTimeout(150_000)
  const dir = mkdtempSync(join(tmpdir(), 'production-install-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const file of ['package.json', 'package-lock.json', '.npmrc']) cpSync(join(ROOT, file), join(dir, file))
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true })
  mkdirSync(join(dir, 'packages', 'verifier'), { recursive: true })
  cpSync(join(ROOT, 'packages', 'verifier', 'package.json'), join(dir, 'packages', 'verifier', 'package.json'))
  cpSync(join(ROOT, 'packages', 'verifier', 'dist'), join(dir, 'packages', 'verifier', 'dist'), { recursive: true })
  // Hard links: fast, and pruning the copy leaves the checkout's files alone.
  t.equal(spawnSync('cp', ['-al', join(ROOT, 'node_modules'), join(dir, 'node_modules')]).status, 0, 'node_modules copied')
  const pruned = spawnSync('npm', ['prune', '--omit=dev', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir, encoding: 'utf8' })
  t.equal(pruned.status, 0, pruned.stderr)
  t.notOk(existsSync(join(dir, 'node_modules', 'typescript')), 'no TypeScript: a production install')
  t.notOk(existsSync(join(dir, 'src')), 'and no sources')
  t.ok(existsSync(join(ROOT, 'node_modules', 'typescript', 'package.json')), "the checkout's own install is untouched")

  // The embedded store: the CLI needs better-sqlite3's native module, which the production install keeps.
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'silent' }
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES']) delete env[name]
  const run = (command: string, ...args: string[]) => spawnSync('npm', ['run', '-s', command, '--', ...args], { cwd: dir, env, encoding: 'utf8' })

  const help = run('clients', '--help')
  t.equal(help.status, 0, `clients --help: ${help.stderr}`)
  t.match(help.stdout, /usage: npm run -s clients/)
  const empty = run('clients', 'list')
  t.equal(empty.status, 0, `clients list: ${empty.stderr}`)
  t.same(JSON.parse(empty.stdout), [])
  // The plain form, as `kubectl exec deploy/jwt-auth-service -- node dist/scripts/clients.js …` runs it.
  const plain = (...args: string[]) => spawnSync(process.execPath, ['dist/scripts/clients.js', ...args], { cwd: dir, env, encoding: 'utf8' })
  const created = plain('create', 'billing', '--audience', 'https://orders.internal')
  t.equal(created.status, 0, `node dist/scripts/clients.js create: ${created.stderr}`)
  t.match(JSON.parse(plain('list').stdout), [{ client_id: 'billing' }], 'a client created there is listed')
  const users = run('users', '--help')
  t.equal(users.status, 0, `users --help: ${users.stderr}`)
  t.match(users.stdout, /usage: npm run -s users/)
})
