import { qualified } from '../migrations/postgres.js'
import { hasNul, openPostgresStore } from '../postgres-pool.js'
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

const COLUMNS = `client_id, scope, audiences, privileges, exchange_audiences, secret_hash, ${CREDENTIAL_COLUMNS.join(', ')},
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at`

/**
 * The PostgreSQL clients store (DATABASE_URL), its table in `schema` (DATABASE_SCHEMA).
 * Migrates the database on start (migrations/postgres-steps.ts), idempotently.
 */
export async function createPostgresClientStore(connectionString: string, schema: string): Promise<ClientStore> {
  const db = await openPostgresStore(connectionString, schema, 'client', () => new ClientExistsError())
  const clients = qualified(schema, 'clients')
  const query = (sql: string, values: unknown[]) => db.query<ClientRow>(sql, values)

  return {
    async create(client, now) {
      const row = rowOf(client, now)
      const [stored] = await query(
        `INSERT INTO ${clients} (${ROW_COLUMNS.join(', ')}) VALUES (${ROW_COLUMNS.map((_, index) => `$${index + 1}`).join(', ')}) RETURNING ${COLUMNS}`,
        ROW_COLUMNS.map((column) => row[column])
      )
      return withoutSecret(clientFromRow(stored!))
    },
    async find(clientId) {
      if (hasNul(clientId)) return undefined
      const [row] = await query(`SELECT ${COLUMNS} FROM ${clients} WHERE client_id = $1`, [clientId])
      return row && clientFromRow(row)
    },
    async findFederated(issuer, subject) {
      if (hasNul(issuer) || hasNul(subject)) return undefined
      const [row] = await db.query<{ client_id: string }>(`SELECT client_id FROM ${clients} WHERE federated_issuer = $1 AND federated_subject = $2`, [issuer, subject])
      return row?.client_id
    },
    async list() {
      return (await query(`SELECT ${COLUMNS} FROM ${clients} ORDER BY client_id`, [])).map((row) => withoutSecret(clientFromRow(row)))
    },
    async update(clientId, changes) {
      if (hasNul(clientId)) return undefined
      const columns = changedColumns(changes)
      if (columns.length === 0) {
        const [row] = await query(`SELECT ${COLUMNS} FROM ${clients} WHERE client_id = $1`, [clientId])
        return row && withoutSecret(clientFromRow(row))
      }
      // The column names come from changedColumns, never from the caller.
      const [row] = await query(
        `UPDATE ${clients} SET ${columns.map(([column], index) => `${column} = $${index + 2}`).join(', ')} WHERE client_id = $1 RETURNING ${COLUMNS}`,
        [clientId, ...columns.map(([, value]) => value)]
      )
      return row && withoutSecret(clientFromRow(row))
    },
    async setSecret(clientId, secretHash) {
      if (hasNul(clientId)) return false
      return (await query(`UPDATE ${clients} SET secret_hash = $2 WHERE client_id = $1 RETURNING client_id`, [clientId, secretHash])).length === 1
    },
    async setCredential(clientId, credential, secretHash) {
      if (hasNul(clientId)) return false
      const columns = Object.entries(credentialColumns(credential))
      const assignments = columns.map(([column], index) => `${column} = $${index + 3}`).join(', ')
      const changed = await query(`UPDATE ${clients} SET secret_hash = $2, ${assignments} WHERE client_id = $1 RETURNING client_id`, [
        clientId,
        secretHash,
        ...columns.map(([, value]) => value)
      ])
      return changed.length === 1
    },
    async delete(clientId) {
      return (await query(`DELETE FROM ${clients} WHERE client_id = $1 RETURNING client_id`, [clientId])).length === 1
    },
    async ping() {
      await query('SELECT 1', [])
    },
    reachable: () => db.reachable(),
    async close() {
      await db.close()
    }
  }
}
