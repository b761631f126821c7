import { randomUUID } from 'node:crypto'
import { StoreUnavailableError } from '../../errors.js'
import { USERS_SQLITE_STEPS } from '../migrations/sqlite-steps.js'
import { openSqlite } from '../sqlite-database.js'
import { EmailTakenError, emailKey, withoutPassword, type UserStore, type UserWithPassword } from './index.js'

const COLUMNS = 'id, name, email, email_verified_at, disabled_at, password_hash, created_at, updated_at'

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
  const dropToken = db.prepare('DELETE FROM account_tokens WHERE user_id = ? AND purpose = ?')
  const addToken = db.prepare('INSERT INTO account_tokens (token_hash, purpose, user_id, expires_at, created_at) VALUES (?, ?, ?, ?, ?)')
  const liveToken = db.prepare<[string, string, string], { user_id: string }>('SELECT user_id FROM account_tokens WHERE token_hash = ? AND purpose = ? AND expires_at > ?')
  const useToken = db.prepare<[string, string, string], { user_id: string }>('DELETE FROM account_tokens WHERE token_hash = ? AND purpose = ? AND expires_at > ? RETURNING user_id')
  const setVerified = db.prepare('UPDATE users SET email_verified_at = COALESCE(email_verified_at, ?), updated_at = ? WHERE id = ?')

  const setDisabledAt = db.prepare<[string | null, string, string], UserWithPassword>(`UPDATE users SET disabled_at = ?, updated_at = ? WHERE id = ? RETURNING ${COLUMNS}`)
  const dropTokens = db.prepare('DELETE FROM account_tokens WHERE user_id = ?')
  const dropUser = db.prepare('DELETE FROM users WHERE id = ?')
  const remove = db.transaction((id: string): boolean => {
    dropTokens.run(id)
    return dropUser.run(id).changes === 1
  })

  const changePassword = db.transaction((id: string, passwordHash: string, now: string): boolean => {
    dropToken.run(id, 'reset')
    return setPassword.run(passwordHash, now, id).changes === 1
  })
  const saveToken = db.transaction((userId: string, purpose: string, tokenHash: string, expiresAt: string, now: string): boolean => {
    if (byId.get(userId) === undefined) return false
    dropToken.run(userId, purpose)
    addToken.run(tokenHash, purpose, userId, expiresAt, now)
    return true
  })
  const reset = db.transaction((tokenHash: string, passwordHash: string, now: string): string | undefined => {
    const used = useToken.get(tokenHash, 'reset', now)
    if (used === undefined) return undefined
    setPassword.run(passwordHash, now, used.user_id)
    return used.user_id
  })
  const verify = db.transaction((tokenHash: string, now: string): UserWithPassword | undefined => {
    const used = useToken.get(tokenHash, 'verify', now)
    if (used === undefined) return undefined
    setVerified.run(now, now, used.user_id)
    return byId.get(used.user_id)
  })

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
      const row = { id: randomUUID(), ...user, email_key: emailKey(user.email), email_verified_at: null, disabled_at: null, created_at: now, updated_at: now }
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
      return guard(() => changePassword(id, passwordHash, now))
    },
    async saveAccountToken(userId, purpose, tokenHash, expiresAt, now) {
      return guard(() => saveToken(userId, purpose, tokenHash, expiresAt, now))
    },
    async accountTokenUser(tokenHash, purpose, now) {
      return guard(() => liveToken.get(tokenHash, purpose, now))?.user_id
    },
    async resetPassword(tokenHash, passwordHash, now) {
      return guard(() => reset(tokenHash, passwordHash, now))
    },
    async verifyEmail(tokenHash, now) {
      const row = guard(() => verify(tokenHash, now))
      return row && withoutPassword(row)
    },
    async setDisabled(id, at, now) {
      return guard(() => setDisabledAt.get(at, now, id))
    },
    async delete(id) {
      return guard(() => remove(id))
    },
    async ping() {
      guard(() => db.prepare('SELECT 1').get())
    },
    async close() {
      db.close()
    }
  }
}
