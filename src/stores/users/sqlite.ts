import { randomUUID } from 'node:crypto'
import { StoreUnavailableError } from '../../errors.js'
import { USERS_SQLITE_STEPS } from '../migrations/sqlite-steps.js'
import { openSqlite } from '../sqlite-database.js'
import { EmailTakenError, emailKey, withoutPassword, type UserStore, type UserWithPassword } from './index.js'

const COLUMNS = 'id, name, email, password_hash, created_at, updated_at'

/** The embedded users store: one SQLite file under DATA_DIR, migrated on open (migrations/sqlite-steps.ts). */
export function createSqliteUserStore(dataDir: string): UserStore {
  const db = openSqlite(dataDir, 'users.db', USERS_SQLITE_STEPS)
  const insert = db.prepare(
    `INSERT INTO users (id, name, email, email_key, password_hash, created_at, updated_at)
     VALUES (@id, @name, @email, @email_key, @password_hash, @created_at, @updated_at)`
  )
  const byEmail = db.prepare<[string], UserWithPassword>(`SELECT ${COLUMNS} FROM users WHERE email_key = ?`)
  const byId = db.prepare<[string], UserWithPassword>(`SELECT ${COLUMNS} FROM users WHERE id = ?`)
  const setPassword = db.prepare('UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?')

  // better-sqlite3 is synchronous; a failure here is a broken file or disk, which callers see as 503.
  function guard<T>(work: () => T): T {
    try {
      return work()
    } catch (error) {
      if (error instanceof EmailTakenError) throw error
      throw new StoreUnavailableError('user', error)
    }
  }

  return {
    async create(user, now) {
      const row = { id: randomUUID(), ...user, email_key: emailKey(user.email), created_at: now, updated_at: now }
      return guard(() => {
        try {
          insert.run(row)
        } catch (error) {
          if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new EmailTakenError()
          throw error
        }
        return withoutPassword(row)
      })
    },
    async findByEmail(email) {
      return guard(() => byEmail.get(emailKey(email)))
    },
    async findById(id) {
      const row = guard(() => byId.get(id))
      return row && withoutPassword(row)
    },
    async passwordHashOf(id) {
      return guard(() => byId.get(id))?.password_hash
    },
    async updatePassword(id, passwordHash, now) {
      return guard(() => setPassword.run(passwordHash, now, id).changes === 1)
    },
    async ping() {
      guard(() => db.prepare('SELECT 1').get())
    },
    async close() {
      db.close()
    }
  }
}
