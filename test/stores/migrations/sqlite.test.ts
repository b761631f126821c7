import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Database } from '../../../src/stores/sqlite-driver.js'
import { test, type Test } from 'tap'
import { createSqliteClientStore } from '../../../src/stores/clients/sqlite.js'
import { IncompatibleSchemaError, MigrationError } from '../../../src/stores/migrations/index.js'
import { migrateSqlite, type SqliteStep } from '../../../src/stores/migrations/sqlite.js'
import { CLIENTS_SQLITE_STEPS, USERS_SQLITE_STEPS } from '../../../src/stores/migrations/sqlite-steps.js'
import { emailKey } from '../../../src/stores/users/index.js'
import { createSqliteUserStore } from '../../../src/stores/users/sqlite.js'

function dataDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'jwt-auth-migrations-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function open(t: Test, file: string): Database {
  const db = new Database(file)
  t.teardown(() => db.close())
  return db
}

const version = (db: Database) => db.pragma('user_version', { simple: true }) as number
const columns = (db: Database, table: string) => (db.pragma(`table_info(${table})`) as { name: string }[]).map((column) => column.name)

const v1: SqliteStep = { version: 1, name: 'items table', up: 'CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT NOT NULL)' }
const v2: SqliteStep = {
  version: 2,
  name: 'items.note',
  up: (db) => {
    db.exec("ALTER TABLE items ADD COLUMN note TEXT NOT NULL DEFAULT 'none'")
  }
}

test('user_version steps: a second version adds a column, keeping the rows', async (t) => {
  const file = join(dataDir(t), 'items.db')
  const db = open(t, file)
  t.same(migrateSqlite(db, [v1]), { from: 0, to: 1 })
  t.equal(version(db), 1)
  db.prepare("INSERT INTO items (id, label) VALUES (1, 'kept')").run()

  t.same(migrateSqlite(db, [v1, v2]), { from: 1, to: 2 })
  t.equal(version(db), 2)
  t.same(columns(db, 'items'), ['id', 'label', 'note'])
  t.same(db.prepare('SELECT * FROM items').all(), [{ id: 1, label: 'kept', note: 'none' }], 'the row is kept')

  t.same(migrateSqlite(open(t, file), [v1, v2]), { from: 2, to: 2 }, 'another connection finds nothing to do')

  const older = (() => {
    try {
      migrateSqlite(db, [v1])
    } catch (error) {
      return error as Error
    }
    throw new Error('expected the older code to refuse the file')
  })()
  t.type(older, IncompatibleSchemaError)
  t.match(older.message, `${file} is at schema version 2 (PRAGMA user_version), newer than this release knows (1)`)
  t.equal(version(db), 2, 'the file is left alone')
})

test('a step that fails is rolled back with its version', async (t) => {
  const db = open(t, join(dataDir(t), 'items.db'))
  migrateSqlite(db, [v1])
  const broken: SqliteStep = {
    version: 2,
    name: 'items.note, then a mistake',
    up: "ALTER TABLE items ADD COLUMN note TEXT NOT NULL DEFAULT 'none'; SELECT no_such_column FROM items"
  }
  t.throws(() => migrateSqlite(db, [v1, broken]), MigrationError)
  t.throws(() => migrateSqlite(db, [v1, broken]), { message: /migration 2 \(items\.note, then a mistake\) failed: .*no_such_column/ })
  t.equal(version(db), 1)
  t.same(columns(db, 'items'), ['id', 'label'])
  t.throws(() => migrateSqlite(db, [v2]), /numbered/)
})

test('files of release 0.1 (user_version 0) are adopted with their rows', async (t) => {
  const dir = dataDir(t)
  const user = { id: randomUUID(), name: 'Ada', email: 'Ada@Example.com', email_key: emailKey('Ada@Example.com'), password_hash: 'hash', created_at: '2024-01-02T03:04:05.678Z', updated_at: '2024-01-02T03:04:05.678Z' }
  // The DDL of release 0.1 (src/stores/users/sqlite.ts and clients/sqlite.ts before versioned migrations).
  const users = new Database(join(dir, 'users.db'))
  users.exec(`
CREATE TABLE IF NOT EXISTS users (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  email         TEXT NOT NULL,
  email_key     TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL
)`)
  users.prepare('INSERT INTO users VALUES (@id, @name, @email, @email_key, @password_hash, @created_at, @updated_at)').run(user)
  users.close()
  const clients = new Database(join(dir, 'clients.db'))
  clients.exec(`
CREATE TABLE IF NOT EXISTS clients (
  client_id   TEXT PRIMARY KEY,
  scope       TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  created_at  TEXT NOT NULL
)`)
  clients.prepare("INSERT INTO clients VALUES ('inventory', 'stock:read', 'ab12', '2024-01-02T03:04:05.678Z')").run()
  clients.close()

  const userStore = createSqliteUserStore(dir)
  t.teardown(() => userStore.close())
  const clientStore = createSqliteClientStore(dir)
  t.teardown(() => clientStore.close())
  t.match(await userStore.findByEmail('ada@example.com'), { id: user.id, name: 'Ada', password_hash: 'hash' }, 'the user is found')
  t.match(await clientStore.find('inventory'), { client_id: 'inventory', scopes: ['stock:read'], secret_hash: 'ab12' }, 'and the client')
  t.equal(version(open(t, join(dir, 'users.db'))), USERS_SQLITE_STEPS.length, 'the files now carry their version')
  t.equal(version(open(t, join(dir, 'clients.db'))), CLIENTS_SQLITE_STEPS.length)
})

test('a new DATA_DIR gets the current version', async (t) => {
  const dir = dataDir(t)
  const store = createSqliteUserStore(dir)
  t.equal((await store.create({ name: 'N', email: 'n@example.com', password_hash: 'h' }, '2026-01-01T00:00:00.000Z')).email, 'n@example.com')
  await store.close()
  t.equal(version(open(t, join(dir, 'users.db'))), USERS_SQLITE_STEPS.length)
  const again = createSqliteUserStore(dir)
  t.equal((await again.findByEmail('n@example.com'))?.name, 'N', 'reopening keeps the data')
  await again.close()
})

test('a file written by a newer release is refused', async (t) => {
  const dir = dataDir(t)
  const file = join(dir, 'users.db')
  const db = new Database(file)
  db.pragma(`user_version = ${USERS_SQLITE_STEPS.length + 1}`)
  db.close()
  t.throws(() => createSqliteUserStore(dir), IncompatibleSchemaError)
  t.throws(() => createSqliteUserStore(dir), { message: `${file} is at schema version ${USERS_SQLITE_STEPS.length + 1}` })
  t.equal(version(open(t, file)), USERS_SQLITE_STEPS.length + 1, 'and left as it was')
})
