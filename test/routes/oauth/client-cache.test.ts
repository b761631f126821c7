/**
 * Client records are cached by each instance (auth/clients.ts) so that a grant or an introspection costs
 * no database round trip. The cache must never weaken the contract: a client changed by the CLI (its
 * secret, scopes, privileges, its deletion) is refused on the next request on every instance, and a
 * cached client gets 503 while the client store cannot answer. Redis + PostgreSQL, two instances, the
 * CLI's own core (openClientAdmin) making the changes, as `npm run clients` does.
 */
import pg from 'pg'
import { test } from 'tap'
import { openClientAdmin } from '../../../src/auth/index.js'
import { loadConfig } from '../../../src/config.js'
import { REACHABILITY_PROBE_MS } from '../../../src/stores/postgres-pool.js'
import { assertOAuthError, basic, buildApp, CLIENT_AUDIENCE, form, storeEnv, until, type Env, type TestContext } from '../../helper.js'
import { TcpProxy } from '../../services.js'

const quiet = { warn: () => undefined }

async function setUp(t: TestContext, env: Env) {
  const a = await buildApp(t, env)
  const b = await buildApp(t, env)
  const admin = await openClientAdmin(loadConfig(env), quiet)
  t.teardown(() => admin.close())
  const { secret } = await admin.clients.create('billing', { scopes: ['a', 'b'], audiences: [CLIENT_AUDIENCE], privileges: [] })
  return { a, b, admin, secret }
}

const grant = (app: Awaited<ReturnType<typeof buildApp>>, secret: string, scope = 'a') =>
  app.inject(form('/oauth/token', { grant_type: 'client_credentials', scope }, basic('billing', secret)))

test('a client changed by the CLI is refused on the next request on every instance', async (t) => {
  const env = await storeEnv(t, 'redis-postgres')
  const { a, b, admin, secret } = await setUp(t, env)
  for (const app of [a, b]) t.equal((await grant(app, secret, 'b')).statusCode, 200, 'cached on both instances')

  // Behind the CLI's back (no new version): the instances keep answering from their cache. This is what
  // the versions are for, and it shows that the cache is there at all.
  const database = new pg.Client({ connectionString: env.DATABASE_URL })
  await database.connect()
  t.teardown(() => database.end())
  await database.query(`UPDATE ${env.DATABASE_SCHEMA}.clients SET scope = 'a' WHERE client_id = 'billing'`)
  t.equal((await grant(a, secret, 'b')).statusCode, 200, 'a change without a new version is not seen: the record is cached')
  await database.query(`UPDATE ${env.DATABASE_SCHEMA}.clients SET scope = 'a b' WHERE client_id = 'billing'`)

  await admin.clients.update('billing', { scopes: ['a'] })
  for (const app of [a, b]) {
    assertOAuthError(t, await grant(app, secret, 'b'), 400, 'invalid_scope')
    t.equal((await grant(app, secret, 'a')).statusCode, 200, 'the scope it kept')
  }

  const rotated = await admin.clients.rotateSecret('billing')
  for (const app of [a, b]) {
    assertOAuthError(t, await grant(app, secret), 401, 'invalid_client')
    t.equal((await grant(app, rotated!.secret)).statusCode, 200, 'the new secret')
  }

  t.equal(await admin.clients.delete('billing'), true, 'the client is deleted')
  for (const app of [a, b]) assertOAuthError(t, await grant(app, rotated!.secret), 401, 'invalid_client')
})

test('privileges granted and withdrawn by the CLI hold on the next introspection on every instance', async (t) => {
  const env = await storeEnv(t, 'redis-postgres')
  const { a, b, admin, secret } = await setUp(t, env)
  const other = await admin.clients.create('other', { scopes: ['x'], audiences: [CLIENT_AUDIENCE], privileges: [] })
  t.equal((await grant(a, secret)).statusCode, 200, 'billing is cached on A')
  t.equal((await grant(b, secret)).statusCode, 200, 'and on B')
  const issued = await a.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('other', other.secret)))
  t.equal(issued.statusCode, 200, "another client's token")
  const foreign = issued.json().access_token as string
  const introspect = (app: typeof a) => app.inject(form('/oauth/introspect', { token: foreign }, basic('billing', secret)))

  for (const app of [a, b]) t.same((await introspect(app)).json(), { active: false }, 'not its token, no privilege')
  await admin.clients.update('billing', { privileges: ['introspect'] })
  for (const app of [a, b]) t.equal((await introspect(app)).json().active, true, 'granted: seen at once')
  await admin.clients.update('billing', { privileges: [] })
  for (const app of [a, b]) t.same((await introspect(app)).json(), { active: false }, 'withdrawn: seen at once')
})

test('while the client store cannot answer, a cached client gets 503, and the cache serves again once it can', async (t) => {
  const direct = await storeEnv(t, 'redis-postgres')
  const url = new URL(direct.DATABASE_URL!)
  const relay = await TcpProxy.start(t, { host: url.hostname, port: Number(url.port || 5432) })
  url.port = String(relay.port)
  const env = { ...direct, DATABASE_URL: url.toString() }
  const { a, secret } = await setUp(t, env)
  t.equal((await grant(a, secret)).statusCode, 200, 'cached')

  await relay.cut()
  // The pool sees its connections drop at once; a silent partition is seen by the probe within REACHABILITY_PROBE_MS.
  await until('503 while PostgreSQL is unreachable', async () => (await grant(a, secret)).statusCode === 503, 2 * REACHABILITY_PROBE_MS)
  assertOAuthError(t, await grant(a, secret), 503, 'temporarily_unavailable')

  await relay.restore()
  await until('200 once PostgreSQL answers again', async () => (await grant(a, secret)).statusCode === 200, 5000)
  t.equal((await grant(a, secret)).statusCode, 200, 'served again without a restart')
})
