/**
 * @jwt-auth-service/verifier as a team installs it: `npm pack -w` gives a tarball, installed into an empty
 * project with no optional peer, and a plain Node.js server in that project verifies the tokens of a running
 * service over its HTTP feed, and refuses a logged-out one within the lag bound. The dependencies come from
 * npm's cache (the suite's own install filled it): no network call.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'tap'
import { answeredWhileFresh, bearer, buildApp, createClient, freePort, registerAndLogin, storeEnv, until, type TestContext } from '../helper.js'

const ROOT = join(import.meta.dirname, '..', '..')
/** The verifier's default maxLagMs; the check below allows for polling on a busy machine on top of it. */
const MAX_LAG_MS = 250
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepare']

/** A downstream service without a framework: node:http, createVerifier and bearerTokenOf. */
const CONSUMER = `
import { createServer } from 'node:http'
import { bearerTokenOf, createVerifier, VerificationError } from '@jwt-auth-service/verifier'

const env = process.env
const verifier = createVerifier({
  issuer: env.AUTH_ISSUER,
  audience: env.AUTH_ISSUER,
  accept: ['user'],
  jwksUri: env.AUTH_URL + '/.well-known/jwks.json',
  feed: { url: env.AUTH_URL + '/oauth/revocations', clientId: env.FEED_CLIENT_ID, clientSecret: env.FEED_CLIENT_SECRET },
  onError: (error) => console.error(error.message)
})
await verifier.ready()
createServer(async (request, response) => {
  const token = bearerTokenOf(request.headers.authorization)
  let status = 401
  let body = { code: 'TOKEN_MISSING' }
  if (typeof token === 'string') {
    try {
      body = await verifier.verify(token)
      status = 200
    } catch (error) {
      if (!(error instanceof VerificationError)) throw error
      status = error.statusCode
      body = { code: error.code, message: error.message }
    }
  }
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}).listen(Number(env.PORT), '127.0.0.1')
`

/** A TypeScript consumer: the package's types resolve through its "exports", and name what it takes. */
const TYPED_CONSUMER = `
import { createVerifier, type VerifiedClaims } from '@jwt-auth-service/verifier'
import jwtAuth from '@jwt-auth-service/verifier/fastify'

const verifier = createVerifier({ issuer: 'https://auth.example', audience: 'https://api.example', accept: ['client'], feed: { url: 'https://auth.example/oauth/revocations', clientId: 'api', clientSecret: 's' } })
export const claims: Promise<VerifiedClaims> = verifier.verify('token', { scopes: ['read'] })
export const plugin: unknown = jwtAuth
// @ts-expect-error: a kind the service does not issue
createVerifier({ issuer: 'i', audience: 'a', accept: ['robot'], feed: { redisUrl: 'redis://127.0.0.1' } })
`

function npm(t: TestContext, args: string[], cwd: string): string {
  const run = spawnSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8' })
  t.equal(run.status, 0, `npm ${args[0]} succeeds`, { stderr: run.stderr })
  return run.stdout
}

/** Every package installed in a project, by its manifest (node_modules, scoped or not). */
function installedManifests(project: string): { name: string; scripts?: Record<string, string> }[] {
  const modules = join(project, 'node_modules')
  const folders = readdirSync(modules).filter((name) => !name.startsWith('.')).flatMap((name) => (name.startsWith('@') ? readdirSync(join(modules, name)).map((inner) => join(name, inner)) : [name]))
  return folders.map((folder) => JSON.parse(readFileSync(join(modules, folder, 'package.json'), 'utf8')))
}

test('npm pack -w @jwt-auth-service/verifier: installs small, without install scripts, and verifies and revokes over the HTTP feed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'verifier-package-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // `prepack` builds the package first.
  const [{ filename, files }] = JSON.parse(npm(t, ['pack', '-w', '@jwt-auth-service/verifier', '--json', '--pack-destination', dir], ROOT)) as [{ filename: string; files: { path: string }[] }]
  const paths = files.map((file) => file.path)
  for (const needed of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/fastify.js', 'dist/fastify.d.ts', 'dist/feed/index.js', 'dist/feed/lua/probe.lua', 'dist/feed/lua/feed.lua']) {
    t.ok(paths.includes(needed), `the tarball holds ${needed}`)
  }
  t.same(paths.filter((path) => path.startsWith('src/') || path.endsWith('.map') || path.includes('tsbuildinfo')), [], 'no sources, source maps or build state')

  const project = join(dir, 'downstream')
  mkdirSync(project)
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'downstream', version: '1.0.0', private: true, type: 'module' }))
  npm(t, ['install', '--prefer-offline', join(dir, filename)], project)

  const installed = installedManifests(project)
  t.ok(installed.length <= 10, `${installed.length} packages: ${installed.map((manifest) => manifest.name).join(', ')}`)
  for (const peer of ['ioredis', 'fastify', 'fastify-plugin']) t.notOk(existsSync(join(project, 'node_modules', peer)), `the optional peer ${peer} is not installed`)
  const withScripts = installed.filter((manifest) => INSTALL_SCRIPTS.some((script) => manifest.scripts?.[script] !== undefined))
  t.same(withScripts.map((manifest) => manifest.name), [], 'no installed package has an install script')
  const manifest = JSON.parse(readFileSync(join(project, 'node_modules', '@jwt-auth-service', 'verifier', 'package.json'), 'utf8')) as { dependencies: Record<string, string>; license?: string; version?: string }
  t.same(Object.keys(manifest.dependencies), ['jose'], 'its one dependency is jose')
  t.ok(manifest.license !== undefined && manifest.version !== undefined, 'it has a license and a version')

  writeFileSync(join(project, 'consumer.ts'), TYPED_CONSUMER)
  const typed = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck', 'consumer.ts'], { cwd: project, encoding: 'utf8' })
  t.equal(typed.status, 0, 'its types compile a TypeScript consumer, and refuse a kind it does not know', { output: typed.stdout })

  const app = await buildApp(t, await storeEnv(t, 'redis-postgres'))
  const authUrl = await app.listen({ port: 0, host: '127.0.0.1' })
  const secret = await createClient(app, 'downstream', ['read'], { privileges: ['revocations'] })
  const port = await freePort()
  writeFileSync(join(project, 'server.mjs'), CONSUMER)
  const child = spawn(process.execPath, ['server.mjs'], {
    cwd: project,
    env: { PATH: process.env.PATH!, AUTH_URL: authUrl, AUTH_ISSUER: 'http://auth.test', FEED_CLIENT_ID: 'downstream', FEED_CLIENT_SECRET: secret, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  const me = (token?: string) => fetch(`http://127.0.0.1:${port}/`, { headers: token === undefined ? {} : bearer(token) })
  await until('the downstream server to listen', async () => me().then(() => true, () => false)).catch((error: Error) => {
    throw new Error(`${error.message}: ${stderr}`)
  })

  const account = await registerAndLogin(app)
  // A 503 is the feed stale for a moment on a loaded machine (by design, never a pass): asked again until it is not.
  const admitted = await answeredWhileFresh(() => me(account.token))
  t.equal(admitted.status, 200, 'a user token passes')
  t.match(await admitted.json(), { kind: 'user', sub: /^[0-9a-f-]{36}$/, iss: 'http://auth.test' })
  t.equal((await me()).status, 401, 'no token: 401')

  t.equal((await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(account.token) })).statusCode, 200)
  const loggedOutAt = performance.now()
  await until('the downstream server to refuse the logged-out token', async () => (await me(account.token)).status === 401, 2_000)
  const refusedAfter = performance.now() - loggedOutAt
  t.ok(refusedAfter < MAX_LAG_MS + 250, `refused ${Math.round(refusedAfter)} ms after the logout's answer`)
  t.match(await (await me(account.token)).json(), { code: 'TOKEN_REVOKED' })
  t.equal(stderr, '', 'nothing went wrong on the way')
})
