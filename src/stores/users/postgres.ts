import { randomUUID } from 'node:crypto'
import { qualified } from '../migrations/postgres.js'
import { hasNul, openPostgresStore } from '../postgres-pool.js'
import { EmailTakenError, emailKey, withoutPassword, type UserStore, type UserWithPassword } from './index.js'

/** A timestamptz as the API shows it: ISO-8601 in UTC, to the millisecond (null stays null). */
const iso = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${column}`

const COLUMNS = `id::text, name, email, password_hash, ${iso('email_verified_at')}, ${iso('disabled_at')}, ${iso('created_at')}, ${iso('updated_at')}`

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * The PostgreSQL users store (DATABASE_URL), its table in `schema` (DATABASE_SCHEMA).
 * Migrates the database on start (migrations/postgres-steps.ts), idempotently.
 */
export async function createPostgresUserStore(connectionString: string, schema: string): Promise<UserStore> {
  const db = await openPostgresStore(connectionString, schema, 'user', () => new EmailTakenError())
  const users = qualified(schema, 'users')
  const tokens = qualified(schema, 'account_tokens')
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
      const rows = await query(
        `WITH ended AS (DELETE FROM ${tokens} WHERE user_id = $2 AND purpose = 'reset')
         UPDATE ${users} SET password_hash = $1, updated_at = $3 WHERE id = $2 RETURNING id`,
        [passwordHash, id, now]
      )
      return rows.length === 1
    },
    async saveAccountToken(userId, purpose, tokenHash, expiresAt, now) {
      if (!UUID.test(userId)) return false
      // One statement: the user's older token of this purpose is replaced, or none is kept for a user that is gone.
      const rows = await query(
        `INSERT INTO ${tokens} (token_hash, purpose, user_id, expires_at, created_at)
         SELECT $1, $2, id, $4, $5 FROM ${users} WHERE id = $3
         ON CONFLICT (user_id, purpose) DO UPDATE SET token_hash = EXCLUDED.token_hash, expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at
         RETURNING user_id`,
        [tokenHash, purpose, userId, expiresAt, now]
      )
      return rows.length === 1
    },
    async accountTokenUser(tokenHash, purpose, now) {
      const rows = await db.query<{ user_id: string }>(`SELECT user_id::text FROM ${tokens} WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3`, [tokenHash, purpose, now])
      return rows[0]?.user_id
    },
    async resetPassword(tokenHash, passwordHash, now) {
      const rows = await query(
        `WITH used AS (DELETE FROM ${tokens} WHERE token_hash = $1 AND purpose = 'reset' AND expires_at > $3 RETURNING user_id)
         UPDATE ${users} SET password_hash = $2, updated_at = $3 FROM used WHERE id = used.user_id RETURNING id::text`,
        [tokenHash, passwordHash, now]
      )
      return rows[0]?.id
    },
    async verifyEmail(tokenHash, now) {
      const rows = await query(
        `WITH used AS (DELETE FROM ${tokens} WHERE token_hash = $1 AND purpose = 'verify' AND expires_at > $2 RETURNING user_id)
         UPDATE ${users} SET email_verified_at = COALESCE(email_verified_at, $2), updated_at = $2 FROM used WHERE id = used.user_id RETURNING ${COLUMNS}`,
        [tokenHash, now]
      )
      return rows[0] && withoutPassword(rows[0])
    },
    async setDisabled(id, at, now) {
      if (!UUID.test(id)) return undefined
      return (await query(`UPDATE ${users} SET disabled_at = $1, updated_at = $2 WHERE id = $3 RETURNING ${COLUMNS}`, [at, now, id]))[0]
    },
    async delete(id) {
      if (!UUID.test(id)) return false
      // Its mailed tokens go with it (ON DELETE CASCADE).
      return (await query(`DELETE FROM ${users} WHERE id = $1 RETURNING id`, [id])).length === 1
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
