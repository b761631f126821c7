import { parseScopes, type Client } from '../../schemas/clients.js'

export type { Client }

export interface ClientWithSecret extends Client {
  /** SHA-256 of the secret, hex. */
  secret_hash: string
}

/**
 * The clients repository. Backends: `sqlite.ts` (embedded default) and `postgres.ts`, as for users.
 * Errors: `ClientExistsError` for a duplicate id; `StoreUnavailableError` when the database cannot answer.
 */
export interface ClientStore {
  /** `now`: ISO-8601, from the service's clock. */
  create(client: { client_id: string; scopes: string[]; secret_hash: string }, now: string): Promise<Client>
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
