import { StoreUnavailableError } from '../../errors.js'
import { CLIENTS_SQLITE_STEPS } from '../migrations/sqlite-steps.js'
import { openSqlite } from '../sqlite-database.js'
import { ClientExistsError, clientFromRow, withoutSecret, type ClientRow, type ClientStore } from './index.js'

/** The embedded clients store: a SQLite file under DATA_DIR, migrated on open (migrations/sqlite-steps.ts). */
export function createSqliteClientStore(dataDir: string): ClientStore {
  const db = openSqlite(dataDir, 'clients.db', CLIENTS_SQLITE_STEPS)
  const insert = db.prepare('INSERT INTO clients (client_id, scope, secret_hash, created_at) VALUES (?, ?, ?, ?)')
  const byId = db.prepare<[string], ClientRow>('SELECT * FROM clients WHERE client_id = ?')
  const all = db.prepare<[], ClientRow>('SELECT * FROM clients ORDER BY client_id')
  const remove = db.prepare('DELETE FROM clients WHERE client_id = ?')

  function guard<T>(work: () => T): T {
    try {
      return work()
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new ClientExistsError()
      throw new StoreUnavailableError('client', error)
    }
  }

  return {
    async create({ client_id, scopes, secret_hash }, now) {
      guard(() => insert.run(client_id, scopes.join(' '), secret_hash, now))
      return { client_id, scopes, created_at: now }
    },
    async find(clientId) {
      const row = guard(() => byId.get(clientId))
      return row && clientFromRow(row)
    },
    async list() {
      return guard(() => all.all()).map((row) => withoutSecret(clientFromRow(row)))
    },
    async delete(clientId) {
      return guard(() => remove.run(clientId).changes === 1)
    },
    async ping() {
      guard(() => db.prepare('SELECT 1').get())
    },
    async close() {
      db.close()
    }
  }
}
