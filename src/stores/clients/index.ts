import { parseScopes, PRIVILEGES, type Client, type ClientRegistration, type Privilege } from '../../schemas/clients.js'

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
  create(client: ClientRegistration & { client_id: string; secret_hash: string }, now: string): Promise<Client>
  find(clientId: string): Promise<ClientWithSecret | undefined>
  list(): Promise<Client[]>
  /** Replaces the given fields; undefined when there was no such client. */
  update(clientId: string, changes: Partial<ClientRegistration>): Promise<Client | undefined>
  /** Replaces the secret's hash; false when there was no such client. */
  setSecret(clientId: string, secretHash: string): Promise<boolean>
  /** False when there was no such client. */
  delete(clientId: string): Promise<boolean>
  ping(): Promise<void>
  /** A database of its own (PostgreSQL): whether it is known to answer now; undefined for the in-process SQLite. */
  reachable?(): boolean
  close(): Promise<void>
}

export class ClientExistsError extends Error {
  override name = 'ClientExistsError'
}

/** A row as both backends store it: scopes, audiences and privileges as space-separated strings. */
export interface ClientRow {
  client_id: string
  scope: string
  audiences: string
  privileges: string
  secret_hash: string
  created_at: string
}

export const ROW_COLUMNS = ['client_id', 'scope', 'audiences', 'privileges', 'secret_hash', 'created_at'] as const

/** The row of a new client; its values in ROW_COLUMNS order are `ROW_COLUMNS.map((column) => row[column])`. */
export function rowOf(client: ClientRegistration & { client_id: string; secret_hash: string }, now: string): ClientRow {
  return {
    client_id: client.client_id,
    scope: client.scopes.join(' '),
    audiences: client.audiences.join(' '),
    privileges: client.privileges.join(' '),
    secret_hash: client.secret_hash,
    created_at: now
  }
}

/** The columns (and their stored values) of the fields `changes` names, for an UPDATE. */
export function changedColumns(changes: Partial<ClientRegistration>): [column: 'scope' | 'audiences' | 'privileges', value: string][] {
  const columns: [column: 'scope' | 'audiences' | 'privileges', value: string][] = []
  if (changes.scopes !== undefined) columns.push(['scope', changes.scopes.join(' ')])
  if (changes.audiences !== undefined) columns.push(['audiences', changes.audiences.join(' ')])
  if (changes.privileges !== undefined) columns.push(['privileges', changes.privileges.join(' ')])
  return columns
}

export function clientFromRow({ scope, audiences, privileges, ...row }: ClientRow): ClientWithSecret {
  return {
    ...row,
    scopes: parseScopes(scope),
    audiences: parseScopes(audiences),
    // A privilege this release does not know (written by a newer one) grants nothing here.
    privileges: parseScopes(privileges).filter((name): name is Privilege => (PRIVILEGES as readonly string[]).includes(name))
  }
}

export function withoutSecret({ secret_hash: _secret, ...client }: ClientWithSecret): Client {
  return client
}
