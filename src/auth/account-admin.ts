import type { User } from '../schemas/common.js'
import { withoutPassword, type UserStore, type UserWithPassword } from '../stores/users/index.js'
import { toIso, type Clock } from './clock.js'

/** An account as an operator sees it: the user, and whether it is disabled. Never a hash. */
export type AccountView = User & { disabled_at: string | null }

/** What operators do to accounts (npm run users): by email, as a support request names them. */
export interface AccountAdmin {
  show(email: string): Promise<AccountView | undefined>
  /** No login from now on (403 ACCOUNT_DISABLED), and every session ends at once, everywhere. */
  disable(email: string): Promise<AccountView | undefined>
  /** Logins work again; the sessions that disabling ended stay ended. */
  enable(email: string): Promise<AccountView | undefined>
  /** Every session ends, then the account is deleted; its email may register again. */
  delete(email: string): Promise<AccountView | undefined>
}

const viewOf = (user: UserWithPassword): AccountView => ({ ...withoutPassword(user), disabled_at: user.disabled_at })

/** `endAll`: sessions.ts's endAllSessions, which also drops the instances' cached copies of the user. */
export function createAccountAdmin(users: UserStore, endAll: (sub: string) => Promise<void>, clock: Clock): AccountAdmin {
  return {
    async show(email) {
      const user = await users.findByEmail(email)
      return user && viewOf(user)
    },
    async disable(email) {
      const user = await users.findByEmail(email)
      if (user === undefined) return undefined
      // Disabled first, so that no login starts meanwhile; then the sessions end. A retry after a failure does both again.
      const now = toIso(clock.now())
      const disabled = await users.setDisabled(user.id, user.disabled_at ?? now, now)
      await endAll(user.id)
      return disabled && viewOf(disabled)
    },
    async enable(email) {
      const user = await users.findByEmail(email)
      if (user === undefined) return undefined
      const enabled = await users.setDisabled(user.id, null, toIso(clock.now()))
      return enabled && viewOf(enabled)
    },
    async delete(email) {
      const user = await users.findByEmail(email)
      if (user === undefined) return undefined
      await endAll(user.id)
      await users.delete(user.id)
      return viewOf(user)
    }
  }
}
