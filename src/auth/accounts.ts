import { ServiceError } from '../errors.js'
import type { User } from '../schemas/common.js'
import type { RecordVersions } from '../stores/record-versions.js'
import { EmailTakenError, emailKey, type UserStore } from '../stores/users/index.js'
import { toIso, type Clock } from './clock.js'
import { hashPassword, verifyPassword } from './passwords.js'
import { RecordCache } from './record-cache.js'

export { emailKey }

export interface Accounts {
  /** A new account; 409 EMAIL_TAKEN when the email (case-insensitively) is registered already. */
  register(fields: { name: string; email: string; password: string }): Promise<User>
  /**
   * The user a verified token names, or undefined when the account is gone. Called in the same tick as
   * the token's check, a cached record's version is read in the same Redis round trip.
   */
  find(id: string): Promise<User | undefined>
  /**
   * DELETE /api/user: checks the current password (400 VALIDATION_FAILED when wrong), ends every session at
   * once, then deletes the account; its email may register again. Retry-safe: a retry after a 503 finds
   * the sessions ended and deletes what is left.
   */
  close(id: string, currentPassword: string): Promise<void>
}

/** User records (the public fields /api/user answers with): see record-cache.ts. Login and password change always read the store. */
const USER_CACHE_MS = 30_000
const USER_CACHE_SIZE = 10_000

/** `endAll`: sessions.ts's endAllSessions. */
export function createAccounts(users: UserStore, clock: Clock, endAll: (sub: string) => Promise<void>, versions?: RecordVersions): Accounts {
  // Only for a database of its own (PostgreSQL) and with versions to check it by (Redis).
  const reachable = users.reachable?.bind(users)
  const cache =
    versions !== undefined && reachable !== undefined
      ? new RecordCache<User>({ versions, read: (id) => users.findById(id), reachable, clock, ttlMs: USER_CACHE_MS, size: USER_CACHE_SIZE })
      : undefined

  return {
    async register({ name, email, password }) {
      const password_hash = await hashPassword(password)
      try {
        return await users.create({ name: name.trim(), email: email.trim(), password_hash }, toIso(clock.now()))
      } catch (error) {
        if (error instanceof EmailTakenError) throw new ServiceError('EMAIL_TAKEN')
        throw error
      }
    },
    async close(id, currentPassword) {
      const hash = await users.passwordHashOf(id)
      if (hash === undefined) throw new ServiceError('TOKEN_INVALID', 'the token belongs to no user')
      if (!(await verifyPassword(hash, currentPassword))) throw new ServiceError('VALIDATION_FAILED', 'body/current_password is not the current password')
      // Sessions first: should the deletion fail (503), the account is still there but nobody is signed in to it.
      await endAll(id)
      await users.delete(id)
      await versions?.bump(id)
    },
    async find(id) {
      if (cache === undefined) return users.findById(id)
      const cached = cache.candidate(id)
      if (cached === undefined) return cache.load(id)
      const version = await versions!.current(id)
      return version === cached.version ? cached.value : cache.load(id, version)
    }
  }
}
