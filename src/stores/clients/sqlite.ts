import { StoreUnavailableError } from '../../errors.js'
import { CLIENTS_SQLITE_STEPS } from '../migrations/sqlite-steps.js'
import { openSqlite } from '../sqlite-database.js'
import {
  changedColumns,
  ClientExistsError,
  clientFromRow,
  CREDENTIAL_COLUMNS,
  credentialColumns,
  ROW_COLUMNS,
  rowOf,
  withoutSecret,
  type ClientRow,
  type ClientStore
} from './index.js'

/** The embedded clients store: a SQLite file under DATA_DIR, migrated on open (migrations/sqlite-steps.ts). */
export function createSqliteClientStore(dataDir: string): ClientStore {
  const db = openSqlite(dataDir, 'clients.db', CLIENTS_SQLITE_STEPS)
  const insert = db.prepare(`INSERT INTO clients (${ROW_COLUMNS.join(', ')}) VALUES (${ROW_COLUMNS.map(() => '?').join(', ')})`)
  const byId = db.prepare<[string], ClientRow>('SELECT * FROM clients WHERE client_id = ?')
  const all = db.prepare<[], ClientRow>('SELECT * FROM clients ORDER BY client_id')
  const remove = db.prepare('DELETE FROM clients WHERE client_id = ?')
  const setHash = db.prepare('UPDATE clients SET secret_hash = ? WHERE client_id = ?')
  const setCredential = db.prepare(
    `UPDATE clients SET secret_hash = @secret_hash, ${CREDENTIAL_COLUMNS.map((column) => `${column} = @${column}`).join(', ')} WHERE client_id = @client_id`
  )
  const federated = db.prepare<[string, string], { client_id: string }>('SELECT client_id FROM clients WHERE federated_issuer = ? AND federated_subject = ?')

  function guard<T>(work: () => T): T {
    try {
      return work()
    } catch (error) {
      const code = (error as { code?: string }).code
      if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') throw new ClientExistsError()
      throw new StoreUnavailableError('client', error)
    }
  }

  return {
    async create(client, now) {
      const row = rowOf(client, now)
      guard(() => insert.run(...ROW_COLUMNS.map((column) => row[column])))
      return withoutSecret(clientFromRow(row))
    },
    async find(clientId) {
      const row = guard(() => byId.get(clientId))
      return row && clientFromRow(row)
    },
    async findFederated(issuer, subject) {
      return guard(() => federated.get(issuer, subject))?.client_id
    },
    async list() {
      return guard(() => all.all()).map((row) => withoutSecret(clientFromRow(row)))
    },
    async update(clientId, changes) {
      const columns = changedColumns(changes)
      const row = guard(() => {
        // The column names come from changedColumns, never from the caller.
        if (columns.length > 0) db.prepare(`UPDATE clients SET ${columns.map(([column]) => `${column} = ?`).join(', ')} WHERE client_id = ?`).run(...columns.map(([, value]) => value), clientId)
        return byId.get(clientId)
      })
      return row && withoutSecret(clientFromRow(row))
    },
    async setSecret(clientId, secretHash) {
      return guard(() => setHash.run(secretHash, clientId).changes === 1)
    },
    async setCredential(clientId, credential, secretHash) {
      return guard(() => setCredential.run({ client_id: clientId, secret_hash: secretHash, ...credentialColumns(credential) }).changes === 1)
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
