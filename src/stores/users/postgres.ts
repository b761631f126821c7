import { randomUUID } from 'node:crypto'
import { qualified } from '../migrations/postgres.js'
import { hasNul, openPostgresStore } from '../postgres-pool.js'
import { EmailTakenError, emailKey, withoutPassword, type UserStore, type UserWithPassword } from './index.js'

const COLUMNS = `id::text, name, email, password_hash,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at,
  to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS updated_at`

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * The PostgreSQL users store (DATABASE_URL), its table in `schema` (DATABASE_SCHEMA).
 * Migrates the database on start (migrations/postgres-steps.ts), idempotently.
 */
export async function createPostgresUserStore(connectionString: string, schema: string): Promise<UserStore> {
  const db = await openPostgresStore(connectionString, schema, 'user', () => new EmailTakenError())
  const users = qualified(schema, 'users')
  const query = (sql: string, values: unknown[]) => db.query<UserWithPassword>(sql, values)

  return {
    async create(user, now) {
      const rows = await query(
        `INSERT INTO ${users} (id, name, email, email_key, password_hash, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ${COLUMNS}`,
        [randomUUID(), user.name, user.email, emailKey(user.email), user.password_hash, now]
      )
      return withoutPassword(rows[0]!)
    },
    async findByEmail(email) {
      if (hasNul(email)) return undefined
      return (await query(`SELECT ${COLUMNS} FROM ${users} WHERE email_key = $1`, [emailKey(email)]))[0]
    },
    async findById(id) {
      // A token's `sub` is not necessarily a uuid (a client's, a forged one); PostgreSQL would reject the cast.
      if (!UUID.test(id)) return undefined
      const row = (await query(`SELECT ${COLUMNS} FROM ${users} WHERE id = $1`, [id]))[0]
      return row && withoutPassword(row)
    },
    async passwordHashOf(id) {
      if (!UUID.test(id)) return undefined
      return (await query(`SELECT ${COLUMNS} FROM ${users} WHERE id = $1`, [id]))[0]?.password_hash
    },
    async updatePassword(id, passwordHash, now) {
      if (!UUID.test(id)) return false
      const rows = await query(`UPDATE ${users} SET password_hash = $1, updated_at = $3 WHERE id = $2 RETURNING id`, [passwordHash, id, now])
      return rows.length === 1
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
