import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/** A service account that gets tokens with the client-credentials grant. */
export interface Client {
  client_id: string
  /** The scopes it may ask for. */
  scopes: string[]
  created_at: string
}

export interface ClientWithSecret extends Client {
  /** SHA-256 of the secret, hex. */
  secret_hash: string
}

/**
 * The clients repository. Backends: `sqlite.ts` (embedded default) and `postgres.ts`, as for users.
 * Errors: `ClientExistsError` for a duplicate id; `StoreUnavailableError` when the database cannot answer.
 */
export interface ClientStore {
  create(client: { client_id: string; scopes: string[]; secret_hash: string }): Promise<Client>
  find(clientId: string): Promise<ClientWithSecret | undefined>
  list(): Promise<Client[]>
  /** False when there was no such client. */
  delete(clientId: string): Promise<boolean>
  ping(): Promise<void>
  close(): Promise<void>
}

export class ClientExistsError extends Error {
  override name = 'ClientExistsError'
}

/** RFC 6749 §A.1 allows more, but ids end up in headers, logs and Redis keys: keep them plain. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9._~-]{1,100}$/
/** RFC 6749 §A.4 scope-token: printable ASCII except space, `"` and `\`. */
export const SCOPE_TOKEN_PATTERN = /^[\x21\x23-\x5B\x5D-\x7E]{1,100}$/

/**
 * Secrets are ours, with 256 bits of entropy: a fast hash is enough to store them (no dictionary to
 * guess from), and a grant costs no argon2.
 */
export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url')
}

export function hashClientSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex')
}

/** Constant-time: compares fixed-length digests, never the secrets themselves. */
export function secretMatches(secret: string, secretHash: string): boolean {
  const expected = Buffer.from(secretHash, 'hex')
  const actual = createHash('sha256').update(secret, 'utf8').digest()
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}

/** A row as both backends store it: scopes as one space-separated string. */
export interface ClientRow {
  client_id: string
  scope: string
  secret_hash: string
  created_at: string
}

export function clientFromRow({ scope, ...row }: ClientRow): ClientWithSecret {
  return { ...row, scopes: parseScopes(scope) }
}

export function withoutSecret({ client_id, scopes, created_at }: ClientWithSecret): Client {
  return { client_id, scopes, created_at }
}

export function parseScopes(scope: string): string[] {
  return [...new Set(scope.split(' ').filter((token) => token !== ''))]
}
