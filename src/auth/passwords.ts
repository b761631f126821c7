import { randomBytes } from 'node:crypto'
import argon2 from 'argon2'
import { ServiceError } from '../errors.js'

/**
 * argon2id at OWASP's minimum (m = 19 MiB, t = 2, p = 1). node-argon2 runs on the libuv pool,
 * never on the event loop.
 */
const OPTIONS = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, OPTIONS)
}

let dummyHash: Promise<string> | undefined
const dummy = (): Promise<string> => (dummyHash ??= hashPassword(randomBytes(32).toString('base64url')))

/**
 * Verifies a password against a user's hash or, for an unknown email, against a dummy hash of the
 * same parameters: both answers cost one argon2 verify, so timing does not tell which emails exist.
 */
export async function verifyPassword(hash: string | undefined, password: string): Promise<boolean> {
  const matches = await argon2.verify(hash ?? (await dummy()), password)
  return hash !== undefined && matches
}

/** Computes the dummy hash ahead of the first login, so that login does not pay for it. */
export async function warmUpPasswords(): Promise<void> {
  await dummy()
}

/** register and password change: the confirmation must repeat the new password. */
export function assertConfirmed(password: string, confirmation: string): void {
  if (confirmation !== password) throw new ServiceError('VALIDATION_FAILED', 'body/password_confirmation must match body/password')
}
