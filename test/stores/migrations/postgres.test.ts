import { spawnSync } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { test, type Test } from 'tap'
import { ConfigError, loadConfig } from '../../../src/config.js'
import { createPostgresClientStore } from '../../../src/stores/clients/postgres.js'
import { IncompatibleSchemaError, MigrationError } from '../../../src/stores/migrations/index.js'
import { migratePostgres, type PostgresStep } from '../../../src/stores/migrations/postgres.js'
import { POSTGRES_STEPS } from '../../../src/stores/migrations/postgres-steps.js'
import { migrateDatabase } from '../../../src/stores/postgres-pool.js'
import { emailKey } from '../../../src/stores/users/index.js'
import { createPostgresUserStore } from '../../../src/stores/users/postgres.js'

// PostgreSQL fixtures, apart from test/helper.ts on purpose: these tests talk to the runner and the
// stores directly, without building the app (but for the one boot test, which runs the compiled server).
const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

async function withPostgres<T>(work: (client: pg.Client) => Promise<T>, connectionString = POSTGRES_URL): Promise<T> {
  const client = new pg.Client({ connectionString })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

/** A unique schema name (created or not), dropped with everything in it after the test. */
function schemaName(t: Test, prefix = 'mig'): string {
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`
  t.teardown(() => withPostgres((client) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)))
  return schema
}

/** A unique schema, created now, dropped after the test. */
async function scratchSchema(t: Test, prefix = 'mig'): Promise<string> {
  const schema = schemaName(t, prefix)
  await withPostgres((client) => client.query(`CREATE SCHEMA ${schema}`))
  return schema
}

/** A connection string whose search_path is `schema` alone, as release 0.1's tests and deployments set it. */
function withSearchPath(schema: string): string {
  return `${POSTGRES_URL}?options=-c%20search_path%3D${schema}`
}

/** The columns of `schema.table`, in order; [] when there is no such table. */
async function columns(schema: string, table: string): Promise<string[]> {
  return withPostgres(async (client) => {
    const { rows } = await client.query<{ column_name: string }>(
      'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
      [schema, table]
    )
    return rows.map((row) => row.column_name)
  })
}

/** The DDL of release 0.1 (src/stores/users/postgres.ts and clients/postgres.ts before versioned migrations), unqualified. */
const RELEASE_0_1_DDL = `
CREATE TABLE IF NOT EXISTS users (
  id            uuid PRIMARY KEY,
  name          text NOT NULL,
  email         text NOT NULL,
  email_key     text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS clients (
  client_id   text PRIMARY KEY,
  scope       text NOT NULL,
  secret_hash text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
)`

const USER_COLUMNS = ['id', 'name', 'email', 'email_key', 'password_hash', 'created_at', 'updated_at', 'email_verified_at', 'disabled_at']
const CLIENT_COLUMNS = ['client_id', 'scope', 'secret_hash', 'created_at', 'audiences', 'privileges', 'auth_method', 'jwks_uri', 'jwks', 'federated_issuer', 'federated_subject', 'exchange_audiences']

/** Two releases of a one-table schema: v2 adds a column to the table v1 created. */
const v1: PostgresStep = {
  version: 1,
  name: 'items table',
  async up(db, schema) {
    await db.query(`CREATE TABLE "${schema}".items (id integer PRIMARY KEY, label text NOT NULL)`)
  }
}
const v2: PostgresStep = {
  version: 2,
  name: 'items.note',
  async up(db, schema) {
    await db.query(`ALTER TABLE "${schema}".items ADD COLUMN note text NOT NULL DEFAULT 'none'`)
  }
}

async function migrate(schema: string, steps: PostgresStep[], tables?: Record<string, string[]>) {
  return withPostgres((client) => migratePostgres(client, { schema, steps, tables }))
}

async function history(schema: string): Promise<{ version: number; name: string; applied_at: Date }[]> {
  return withPostgres(async (client) => (await client.query(`SELECT version, name, applied_at FROM ${schema}.schema_migrations ORDER BY version`)).rows)
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    return error as Error
  }
  throw new Error('expected a rejection')
}

test('a second version adds a column to an existing database, keeping its rows', async (t) => {
  const schema = schemaName(t)
  t.same(await migrate(schema, [v1], { items: ['id', 'label'] }), { from: 0, to: 1 }, 'a new database: the schema is created, v1 applied')
  await withPostgres((client) => client.query(`INSERT INTO ${schema}.items (id, label) VALUES (1, 'kept')`))

  t.same(await migrate(schema, [v1, v2], { items: ['id', 'label', 'note'] }), { from: 1, to: 2 }, 'only v2 runs')
  t.same(await columns(schema, 'items'), ['id', 'label', 'note'])
  t.same(await withPostgres(async (client) => (await client.query(`SELECT id, label, note FROM ${schema}.items`)).rows), [{ id: 1, label: 'kept', note: 'none' }], 'the row is kept')
  const recorded = await history(schema)
  t.same(recorded.map(({ version, name }) => ({ version, name })), [{ version: 1, name: 'items table' }, { version: 2, name: 'items.note' }])
  t.ok(recorded.every((row) => row.applied_at instanceof Date), 'applied_at recorded')

  t.same(await migrate(schema, [v1, v2]), { from: 2, to: 2 }, 'running again is a no-op')
  t.equal((await history(schema)).length, 2)

  const older = await rejection(migrate(schema, [v1]))
  t.type(older, IncompatibleSchemaError, 'the code of v1 refuses a database at v2')
  t.match(older.message, `DATABASE_SCHEMA="${schema}"`)
  t.match(older.message, /migration 2 .*newer than this release knows \(1\)/)
  t.same(await columns(schema, 'items'), ['id', 'label', 'note'], 'and leaves it alone')
})

test('a step that fails leaves the database as it was, and the error names the step', async (t) => {
  const schema = schemaName(t)
  await migrate(schema, [v1])
  const broken: PostgresStep = {
    version: 2,
    name: 'items.note, then a mistake',
    async up(db, s) {
      await v2.up(db, s)
      await db.query('SELECT no_such_column FROM pg_class')
    }
  }
  const error = await rejection(migrate(schema, [v1, broken]))
  t.type(error, MigrationError)
  t.notOk(error instanceof IncompatibleSchemaError)
  t.match(error.message, /migration 2 \(items\.note, then a mistake\) failed: .*no_such_column/)
  t.same(await columns(schema, 'items'), ['id', 'label'], 'the column of the failed step is not there')
  t.same((await history(schema)).map((row) => row.version), [1])
})

test('steps must be numbered 1, 2, 3…', async (t) => {
  const schema = schemaName(t)
  await t.rejects(migrate(schema, [v2]), /numbered/)
  await t.rejects(migrate(schema, [v1, v1]), /numbered/)
})

test('concurrent boots on a fresh schema all succeed, and migrate it once', async (t) => {
  const schema = schemaName(t)
  const boots = await Promise.all([
    createPostgresUserStore(POSTGRES_URL, schema),
    createPostgresClientStore(POSTGRES_URL, schema),
    createPostgresUserStore(POSTGRES_URL, schema),
    createPostgresClientStore(POSTGRES_URL, schema)
  ])
  t.teardown(() => Promise.all(boots.map((store) => store.close())))
  t.same((await history(schema)).map((row) => row.version), POSTGRES_STEPS.map((step) => step.version))
  t.same(await columns(schema, 'users'), USER_COLUMNS)
  t.same(await columns(schema, 'clients'), CLIENT_COLUMNS)

  const runs = await Promise.all(Array.from({ length: 4 }, () => migrateDatabase(POSTGRES_URL, schema)))
  t.ok(runs.every((run) => run.from === run.to), 'later boots find nothing to do')
})

test('a database of release 0.1 is adopted: its tables move into DATABASE_SCHEMA with every row', async (t) => {
  // Release 0.1 created its tables unqualified, in the first schema of the search_path (usually public).
  const old = await scratchSchema(t, 'old')
  const url = withSearchPath(old)
  const user = { id: randomUUID(), name: 'Ada', email: 'Ada@Example.com', hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA' }
  await withPostgres(async (client) => {
    await client.query(RELEASE_0_1_DDL)
    await client.query(
      'INSERT INTO users (id, name, email, email_key, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)',
      [user.id, user.name, user.email, emailKey(user.email), user.hash, '2024-01-02T03:04:05.678Z']
    )
    await client.query("INSERT INTO clients (client_id, scope, secret_hash) VALUES ('inventory', 'stock:read stock:write', 'ab12')")
  }, url)

  const schema = schemaName(t, 'new')
  const users = await createPostgresUserStore(url, schema)
  t.teardown(() => users.close())
  const clients = await createPostgresClientStore(url, schema)
  t.teardown(() => clients.close())

  t.match(await users.findByEmail('ada@example.com'), {
    id: user.id,
    name: 'Ada',
    email: 'Ada@Example.com',
    password_hash: user.hash,
    created_at: '2024-01-02T03:04:05.678Z'
  }, 'the user is found, by email, in the new schema')
  t.match(await clients.find('inventory'), { client_id: 'inventory', scopes: ['stock:read', 'stock:write'], audiences: [], privileges: [], secret_hash: 'ab12' }, 'and the client, with no audiences or privileges (step 2)')
  t.same(await columns(old, 'users'), [], 'the tables left the old schema')
  t.same(await columns(old, 'clients'), [])
  t.same(await columns(schema, 'users'), USER_COLUMNS)
  t.same(await columns(schema, 'clients'), CLIENT_COLUMNS)

  await t.rejects(users.create({ name: 'Again', email: 'ADA@example.com', password_hash: 'x' }, '2026-01-01T00:00:00.000Z'), { name: 'EmailTakenError' }, 'its unique index came along')
  t.equal((await users.create({ name: 'Bob', email: 'bob@example.com', password_hash: 'x' }, '2026-01-01T00:00:00.000Z')).email, 'bob@example.com', 'new users go into the adopted table')
  t.same((await history(schema)).map((row) => row.version), POSTGRES_STEPS.map((step) => step.version))
})

test('a users table of someone else in DATABASE_SCHEMA stops the boot with a named error', async (t) => {
  const schema = await scratchSchema(t, 'shared')
  await withPostgres(async (client) => {
    await client.query(`CREATE TABLE ${schema}.users (id serial PRIMARY KEY, name text, email text)`)
    await client.query(`INSERT INTO ${schema}.users (name, email) VALUES ('theirs', 'theirs@example.com')`)
  })

  const error = await rejection(createPostgresUserStore(POSTGRES_URL, schema))
  t.type(error, IncompatibleSchemaError)
  t.equal(
    error.message,
    `DATABASE_SCHEMA="${schema}": table ${schema}.users is not this service's (missing columns: email_key, password_hash, created_at, updated_at); give the service a schema of its own`
  )
  t.notOk(error.stack?.includes('node_modules/pg'), 'not an error of the driver')
  t.type(error, MigrationError, 'server.ts prints MigrationErrors as a message, without a stack')

  t.same(await columns(schema, 'users'), ['id', 'name', 'email'], 'their table is untouched')
  t.same(await withPostgres(async (client) => (await client.query(`SELECT name FROM ${schema}.users`)).rows), [{ name: 'theirs' }])
  t.same(await columns(schema, 'schema_migrations'), [], 'nothing was recorded (the migration rolled back)')
  t.same(await columns(schema, 'clients'), [], 'nor created')
  await t.rejects(createPostgresClientStore(POSTGRES_URL, schema), IncompatibleSchemaError, 'the clients store refuses it too')
})

test('a users table of someone else in the search_path is not adopted, nor touched', async (t) => {
  const theirs = await scratchSchema(t, 'theirs')
  await withPostgres(async (client) => {
    await client.query(`CREATE TABLE ${theirs}.users (id integer PRIMARY KEY, nickname text)`)
    await client.query(`INSERT INTO ${theirs}.users VALUES (1, 'theirs')`)
  })
  const schema = schemaName(t, 'ours')
  const users = await createPostgresUserStore(withSearchPath(theirs), schema)
  t.teardown(() => users.close())

  t.same(await columns(theirs, 'users'), ['id', 'nickname'], 'their table stays where it was, as it was')
  t.same(await withPostgres(async (client) => (await client.query(`SELECT * FROM ${theirs}.users`)).rows), [{ id: 1, nickname: 'theirs' }])
  t.same(await columns(schema, 'users'), USER_COLUMNS, 'ours is created in DATABASE_SCHEMA')
  t.equal(await users.findByEmail('theirs@example.com'), undefined)
  t.equal((await users.create({ name: 'Ours', email: 'ours@example.com', password_hash: 'x' }, '2026-01-01T00:00:00.000Z')).email, 'ours@example.com')
})

test("another deployment's tables, found through the search_path, are not taken", async (t) => {
  const first = schemaName(t, 'first')
  await migrateDatabase(POSTGRES_URL, first)
  await withPostgres((client) => client.query(`INSERT INTO ${first}.clients (client_id, scope, secret_hash) VALUES ('a', 's', 'h')`))
  const second = schemaName(t, 'second')
  await migrateDatabase(withSearchPath(first), second)
  t.same(await withPostgres(async (client) => (await client.query(`SELECT client_id FROM ${first}.clients`)).rows), [{ client_id: 'a' }], 'the first keeps its tables')
  t.same(await withPostgres(async (client) => (await client.query(`SELECT client_id FROM ${second}.clients`)).rows), [], 'the second has its own')
})

test('a schema_migrations table of another tool in DATABASE_SCHEMA is named too', async (t) => {
  const schema = await scratchSchema(t, 'rails')
  await withPostgres((client) => client.query(`CREATE TABLE ${schema}.schema_migrations (version varchar PRIMARY KEY)`))
  const error = await rejection(migrateDatabase(POSTGRES_URL, schema))
  t.type(error, IncompatibleSchemaError)
  t.match(error.message, `DATABASE_SCHEMA="${schema}": table ${schema}.schema_migrations is not this service's (missing columns: name, applied_at)`)
})

test('a database migrated by a newer release is refused at boot', async (t) => {
  const schema = schemaName(t)
  await migrateDatabase(POSTGRES_URL, schema)
  await withPostgres((client) => client.query(`INSERT INTO ${schema}.schema_migrations (version, name) VALUES ($1, 'from the future')`, [POSTGRES_STEPS.length + 1]))
  const error = await rejection(createPostgresUserStore(POSTGRES_URL, schema))
  t.type(error, IncompatibleSchemaError)
  t.match(error.message, `DATABASE_SCHEMA="${schema}": the database is at migration ${POSTGRES_STEPS.length + 1}`)
})

test('a missing table that the history says exists is named', async (t) => {
  const schema = schemaName(t)
  await migrateDatabase(POSTGRES_URL, schema)
  await withPostgres((client) => client.query(`DROP TABLE ${schema}.clients`))
  const error = await rejection(createPostgresClientStore(POSTGRES_URL, schema))
  t.type(error, IncompatibleSchemaError)
  t.match(error.message, `table ${schema}.clients is missing`)
})

test('DATABASE_SCHEMA: jwt_auth by default, a plain SQL identifier otherwise', async (t) => {
  t.equal(loadConfig({}).DATABASE_SCHEMA, 'jwt_auth')
  t.equal(loadConfig({ DATABASE_SCHEMA: 'auth_2' }).DATABASE_SCHEMA, 'auth_2')
  for (const bad of ['Auth', 'a-b', 'a.b', '"x"', '1abc', 'pg_auth', 'x'.repeat(64)]) {
    t.throws(() => loadConfig({ DATABASE_SCHEMA: bad }), ConfigError, bad)
    t.throws(() => loadConfig({ DATABASE_SCHEMA: bad }), { message: /DATABASE_SCHEMA/ })
  }
})


test('the server stops at boot on an incompatible table, with the message alone', async (t) => {
  const schema = await scratchSchema(t, 'shared')
  await withPostgres((client) => client.query(`CREATE TABLE ${schema}.users (id serial PRIMARY KEY, name text)`))
  const dataDir = mkdtempSync(join(tmpdir(), 'jwt-auth-boot-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  // The process as `npm start` runs it (npm test builds it first).
  const server = join(import.meta.dirname, '..', '..', '..', 'dist', 'src', 'server.js')
  const result = spawnSync(process.execPath, [server], {
    env: { PATH: process.env.PATH!, DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent', DATABASE_URL: POSTGRES_URL, DATABASE_SCHEMA: schema },
    encoding: 'utf8',
    timeout: 30_000
  })
  t.equal(result.status, 1)
  t.equal(
    result.stderr,
    `jwt-auth-service: DATABASE_SCHEMA="${schema}": table ${schema}.users is not this service's ` +
      '(missing columns: email, email_key, password_hash, created_at, updated_at); give the service a schema of its own\n',
    'one line that names the table and the setting, no stack'
  )
})
