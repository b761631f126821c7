import type { User } from '../schemas/common.js'
import { withoutPassword, type UserStore, type UserWithPassword } from '../stores/users/index.js'
import { toIso, type Clock } from './clock.js'

/** An account as an operator sees it: the user, and whether it is disabled. Never a hash. */
export type AccountView = User & { disabled_at: string | null }

/**
 * What operators do to accounts (npm run users, the admin API): by email, as a support request names
 * them, or by id, as a token's `sub` and the logs do. `account` is an email when it holds an `@`.
 */
export interface AccountAdmin {
  show(account: string): Promise<AccountView | undefined>
  /** No login from now on (403 ACCOUNT_DISABLED), and every session ends at once, everywhere. */
  disable(account: string): Promise<AccountView | undefined>
  /** Logins work again; the sessions that disabling ended stay ended. */
  enable(account: string): Promise<AccountView | undefined>
  /** Every session ends, then the account is deleted; its email may register again. */
  delete(account: string): Promise<AccountView | undefined>
}

/** Ids are never emails: the stores make UUIDs. */
export const isEmail = (account: string): boolean => account.includes('@')

const viewOf = (user: UserWithPassword): AccountView => ({ ...withoutPassword(user), disabled_at: user.disabled_at })

/** `endAll`: sessions.ts's endAllSessions, which also drops the instances' cached copies of the user. */
export function createAccountAdmin(users: UserStore, endAll: (sub: string) => Promise<void>, clock: Clock): AccountAdmin {
  const find = async (account: string): Promise<UserWithPassword | undefined> => {
    if (isEmail(account)) return users.findByEmail(account)
    const user = await users.findById(account)
    return user && users.findByEmail(user.email)
  }
  return {
    async show(account) {
      const user = await find(account)
      return user && viewOf(user)
    },
    async disable(account) {
      const user = await find(account)
      if (user === undefined) return undefined
      // Disabled first, so that no login starts meanwhile; then the sessions end. A retry after a failure does both again.
      const now = toIso(clock.now())
      const disabled = await users.setDisabled(user.id, user.disabled_at ?? now, now)
      await endAll(user.id)
      return disabled && viewOf(disabled)
    },
    async enable(account) {
      const user = await find(account)
      if (user === undefined) return undefined
      const enabled = await users.setDisabled(user.id, null, toIso(clock.now()))
      return enabled && viewOf(enabled)
    },
    async delete(account) {
      const user = await find(account)
      if (user === undefined) return undefined
      await endAll(user.id)
      await users.delete(user.id)
      return viewOf(user)
    }
  }
}
