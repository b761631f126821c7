import { createHash, randomBytes } from 'node:crypto'
import type { Config } from '../config.js'
import { ServiceError } from '../errors.js'
import type { Mailer } from '../mail/mailer.js'
import { passwordResetMail, verificationMail } from '../mail/messages.js'
import type { User } from '../schemas/common.js'
import type { RecordVersions } from '../stores/record-versions.js'
import type { AccountTokenPurpose, UserStore } from '../stores/users/index.js'
import { toIso, type Clock } from './clock.js'
import { hashPassword } from './passwords.js'
import type { Sessions } from './sessions.js'

/**
 * The single-use tokens a user is mailed: a password reset and the verification of the email (README,
 * "Accounts"). A token is 256 random bits, mailed as a link and stored only as its SHA-256: a copy of the
 * database opens no account. Each user has at most one live token of each purpose; a newer one ends it.
 */
export interface AccountTokens {
  /**
   * POST /api/password/forgot: mails a reset link to a registered address, and does nothing for any other.
   * The caller answers before this runs, so that the answer is the same, in content and in time, either way.
   */
  requestReset(email: string): Promise<'mailed' | 'unknown'>
  /** POST /api/password/reset: the user's id; RESET_TOKEN_INVALID for a token that is unknown, used or expired. */
  reset(token: string, newPassword: string): Promise<string>
  /** Mails a verification link to the user (after registration, and on request). */
  sendVerification(user: Pick<User, 'id' | 'email'>): Promise<void>
  /** POST /api/email/verify: the verified user; VERIFICATION_TOKEN_INVALID for a token that is unknown, used or expired. */
  verify(token: string): Promise<User>
}

export interface AccountTokenDependencies {
  users: UserStore
  /** With Redis: bumped when a record changes (a verified email), so that instances drop their cached copy (accounts.ts). */
  userVersions?: RecordVersions
  sessions: Pick<Sessions, 'endAll'>
  mailer: Mailer
  clock: Clock
  config: Pick<Config, 'APP_URL' | 'PASSWORD_RESET_TTL' | 'EMAIL_VERIFICATION_TTL'>
}

/** 32 random bytes in base64url: the only form a token has, so anything else is refused without a lookup. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/

const hashOf = (token: string): string => createHash('sha256').update(token).digest('hex')

export function createAccountTokens({ users, userVersions, sessions, mailer, clock, config }: AccountTokenDependencies): AccountTokens {
  /** A new token for the user and purpose, stored as its hash; undefined when the user is gone meanwhile. */
  async function issue(userId: string, purpose: AccountTokenPurpose, ttlSeconds: number): Promise<string | undefined> {
    const token = randomBytes(32).toString('base64url')
    const now = clock.now()
    const saved = await users.saveAccountToken(userId, purpose, hashOf(token), toIso(now + ttlSeconds * 1000), toIso(now))
    return saved ? token : undefined
  }

  return {
    async requestReset(email) {
      const user = await users.findByEmail(email)
      if (user === undefined || user.disabled_at !== null) return 'unknown'
      const token = await issue(user.id, 'reset', config.PASSWORD_RESET_TTL)
      if (token === undefined) return 'unknown'
      await mailer.send(passwordResetMail(user.email, config.APP_URL, token, config.PASSWORD_RESET_TTL), 'password reset')
      return 'mailed'
    },

    async reset(token, newPassword) {
      if (!TOKEN.test(token)) throw new ServiceError('RESET_TOKEN_INVALID')
      const tokenHash = hashOf(token)
      const userId = await users.accountTokenUser(tokenHash, 'reset', toIso(clock.now()))
      if (userId === undefined) throw new ServiceError('RESET_TOKEN_INVALID')
      const passwordHash = await hashPassword(newPassword)
      // As a password change: the sessions end before the new hash is stored and again after it, so that a
      // login that read the old hash in between is ended too (sessions.ts, changePassword).
      await sessions.endAll(userId)
      if ((await users.resetPassword(tokenHash, passwordHash, toIso(clock.now()))) === undefined) throw new ServiceError('RESET_TOKEN_INVALID')
      await sessions.endAll(userId)
      return userId
    },

    async sendVerification(user) {
      const token = await issue(user.id, 'verify', config.EMAIL_VERIFICATION_TTL)
      if (token !== undefined) await mailer.send(verificationMail(user.email, config.APP_URL, token, config.EMAIL_VERIFICATION_TTL), 'email verification')
    },

    async verify(token) {
      const user = TOKEN.test(token) ? await users.verifyEmail(hashOf(token), toIso(clock.now())) : undefined
      if (user === undefined) throw new ServiceError('VERIFICATION_TOKEN_INVALID')
      await userVersions?.bump(user.id)
      return user
    }
  }
}
