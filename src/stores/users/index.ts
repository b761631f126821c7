import type { User } from '../../schemas/common.js'

export type { User }

/** A user with the hash, for login only. */
export interface UserWithPassword extends User {
  password_hash: string
  /** When an operator disabled the account; null while it is enabled. Never in an answer. */
  disabled_at: string | null
}

/** What a single-use token mailed to a user is for: a password reset, or the verification of the email. */
export type AccountTokenPurpose = 'reset' | 'verify'

export interface NewUser {
  name: string
  email: string
  password_hash: string
}

/**
 * The users repository. Backends: `sqlite.ts` (embedded default) and `postgres.ts`.
 * Emails are unique case-insensitively: every backend keys them by `emailKey()`.
 * Errors: `EmailTakenError` for a duplicate; `StoreUnavailableError` when the database cannot answer.
 */
export interface UserStore {
  /** `now`: ISO-8601, from the service's clock (created_at and updated_at). */
  create(user: NewUser, now: string): Promise<User>
  findByEmail(email: string): Promise<UserWithPassword | undefined>
  findById(id: string): Promise<User | undefined>
  passwordHashOf(id: string): Promise<string | undefined>
  /**
   * Replaces the hash and sets updated_at to `now` (ISO-8601), and ends the user's reset token (a changed
   * password ends the links mailed for the old one); false when there is no such user.
   */
  updatePassword(id: string, passwordHash: string, now: string): Promise<boolean>
  /**
   * Keeps a single-use token (`tokenHash`: its SHA-256, never the token) for a user and purpose until
   * `expiresAt`; the user's older token of that purpose ends with it. False when there is no such user.
   */
  saveAccountToken(userId: string, purpose: AccountTokenPurpose, tokenHash: string, expiresAt: string, now: string): Promise<boolean>
  /** The user a token names while it is live (`expires_at` after `now`), without using it up. */
  accountTokenUser(tokenHash: string, purpose: AccountTokenPurpose, now: string): Promise<string | undefined>
  /** Uses up a live reset token and stores the new hash, in one step: the user's id, or undefined when the token is not live. */
  resetPassword(tokenHash: string, passwordHash: string, now: string): Promise<string | undefined>
  /** Uses up a live verification token and sets email_verified_at (kept if set already): the user, or undefined. */
  verifyEmail(tokenHash: string, now: string): Promise<User | undefined>
  /** Sets or clears disabled_at (`at`: ISO-8601, or null to enable); the user, or undefined when there is no such user. */
  setDisabled(id: string, at: string | null, now: string): Promise<UserWithPassword | undefined>
  /** Deletes the user and its mailed tokens; false when there is no such user. Its email may register again. */
  delete(id: string): Promise<boolean>
  /** Answers when the database does; throws StoreUnavailableError otherwise. */
  ping(): Promise<void>
  /** A database of its own (PostgreSQL): whether it is known to answer now; undefined for the in-process SQLite. */
  reachable?(): boolean
  close(): Promise<void>
}

export class EmailTakenError extends Error {
  override name = 'EmailTakenError'
}

/** The form of an email that uniqueness and lookups use. */
export function emailKey(email: string): string {
  return email.trim().toLowerCase()
}

/** Picks the public fields, so that no other column (hash, email key) can leak into a response. */
export function withoutPassword(user: UserWithPassword): User {
  const { id, name, email, email_verified_at, created_at, updated_at } = user
  return { id, name, email, email_verified_at, created_at, updated_at }
}
