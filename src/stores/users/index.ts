import type { User } from '../../schemas/common.js'

export type { User }

/** A user with the hash, for login only. */
export interface UserWithPassword extends User {
  password_hash: string
}

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
  /** Replaces the hash and sets updated_at to `now` (ISO-8601); false when there is no such user. */
  updatePassword(id: string, passwordHash: string, now: string): Promise<boolean>
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
  const { id, name, email, created_at, updated_at } = user
  return { id, name, email, created_at, updated_at }
}
