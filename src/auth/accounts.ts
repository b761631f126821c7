import { ServiceError } from '../errors.js'
import type { User } from '../schemas/common.js'
import type { UserVersions } from '../stores/sessions/index.js'
import { EmailTakenError, emailKey, type UserStore } from '../stores/users/index.js'
import { toIso, type Clock } from './clock.js'
import { GenerationalCache } from './generational-cache.js'
import { hashPassword } from './passwords.js'

export { emailKey }

export interface Accounts {
  /** A new account; 409 EMAIL_TAKEN when the email (case-insensitively) is registered already. */
  register(fields: { name: string; email: string; password: string }): Promise<User>
  /**
   * The user a verified token names, or undefined when the account is gone. Called in the same tick as
   * the token's check, a cached record's version is read in the same Redis round trip.
   */
  find(id: string): Promise<User | undefined>
}

/**
 * User records (the public fields /api/user answers with) kept in memory, as client records are
 * (clients.ts): used only while their version (UserVersions, bumped after a password change) is the one
 * they were read under and the database is known to answer, and never longer than USER_CACHE_MS. Login and
 * password change always read the store.
 */
const USER_CACHE_MS = 30_000
const USER_CACHE_SIZE = 10_000

interface CachedUser {
  user: User
  version: string
  until: number
}

export function createAccounts(users: UserStore, clock: Clock, versions?: UserVersions): Accounts {
  const reachable = users.reachable?.bind(users)
  const cache = versions !== undefined && reachable !== undefined ? new GenerationalCache<CachedUser>(USER_CACHE_SIZE) : undefined

  /** The record from the store, cached under the version read before it (a change in between shows as a newer version). */
  async function load(id: string, knownVersion?: string): Promise<User | undefined> {
    if (cache === undefined || versions === undefined) return users.findById(id)
    const version = knownVersion ?? (await versions.current(id))
    const user = await users.findById(id)
    if (user !== undefined) cache.set(id, { user: Object.freeze(user), version, until: clock.now() + USER_CACHE_MS })
    else cache.delete(id)
    return user
  }

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
    async find(id) {
      const cached = cache?.get(id)
      if (cached !== undefined && cached.until > clock.now() && reachable!()) {
        const version = await versions!.current(id)
        return version === cached.version ? cached.user : load(id, version)
      }
      return load(id)
    }
  }
}
