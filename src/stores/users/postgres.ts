import { randomUUID } from 'node:crypto'
import { hasNul, openPostgresStore } from '../postgres-pool.js'
import { EmailTakenError, emailKey, withoutPassword, type UserStore, type UserWithPassword } from './index.js'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  id            uuid PRIMARY KEY,
  name          text NOT NULL,
  email         text NOT NULL,
  email_key     text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL
)`

const COLUMNS = `id::text, name, email, password_hash,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at,
  to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS updated_at`

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The PostgreSQL users store (DATABASE_URL). Creates its table on start, idempotently. */
export async function createPostgresUserStore(connectionString: string): Promise<UserStore> {
  const db = await openPostgresStore(connectionString, 'user', SCHEMA, () => new EmailTakenError())
  const query = (sql: string, values: unknown[]) => db.query<UserWithPassword>(sql, values)

  return {
    async create(user) {
      const now = new Date().toISOString()
      const rows = await query(
        `INSERT INTO users (id, name, email, email_key, password_hash, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ${COLUMNS}`,
        [randomUUID(), user.name, user.email, emailKey(user.email), user.password_hash, now]
      )
      return withoutPassword(rows[0]!)
    },
    async findByEmail(email) {
      if (hasNul(email)) return undefined
      return (await query(`SELECT ${COLUMNS} FROM users WHERE email_key = $1`, [emailKey(email)]))[0]
    },
    async findById(id) {
      // A token's `sub` is not necessarily a uuid (a client's, a forged one); PostgreSQL would reject the cast.
      if (!UUID.test(id)) return undefined
      const row = (await query(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id]))[0]
      return row && withoutPassword(row)
    },
    async passwordHashOf(id) {
      if (!UUID.test(id)) return undefined
      return (await query(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id]))[0]?.password_hash
    },
    async updatePassword(id, passwordHash) {
      if (!UUID.test(id)) return false
      const rows = await query('UPDATE users SET password_hash = $1, updated_at = now() WHERE id = $2 RETURNING id', [passwordHash, id])
      return rows.length === 1
    },
    async ping() {
      await query('SELECT 1', [])
    },
    async close() {
      await db.close()
    }
  }
}
