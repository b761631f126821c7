import { ServiceError } from '../errors.js'
import type { User } from '../schemas/common.js'
import { EmailTakenError, emailKey, type UserStore } from '../stores/users/index.js'
import { toIso, type Clock } from './clock.js'
import { hashPassword } from './passwords.js'

export { emailKey }

export interface Accounts {
  /** A new account; 409 EMAIL_TAKEN when the email (case-insensitively) is registered already. */
  register(fields: { name: string; email: string; password: string }): Promise<User>
  /** The user a verified token names, or undefined when the account is gone. */
  find(id: string): Promise<User | undefined>
}

export function createAccounts(users: UserStore, clock: Clock): Accounts {
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
    find: (id) => users.findById(id)
  }
}
