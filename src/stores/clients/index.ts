import { parseScopes, PRIVILEGES, type AuthMethod, type Client, type ClientCredential, type ClientRegistration, type Privilege } from '../../schemas/clients.js'

export type { Client }

export interface ClientWithSecret extends Client {
  /** SHA-256 of the secret, hex; '' for a client without a secret (no digest equals it). */
  secret_hash: string
}

/** What create stores: the registration, its credential given, and the secret's hash ('' for none). */
export type NewClient = Omit<ClientRegistration, 'credential'> & { client_id: string; credential: ClientCredential; secret_hash: string }

/**
 * The clients repository. Backends: `sqlite.ts` (embedded default) and `postgres.ts`, as for users.
 * Errors: `ClientExistsError` for a duplicate id; `StoreUnavailableError` when the database cannot answer.
 */
export interface ClientStore {
  /** `now`: ISO-8601, from the service's clock. */
  create(client: NewClient, now: string): Promise<Client>
  find(clientId: string): Promise<ClientWithSecret | undefined>
  /** The id of the federated client that trusts this issuer's token for this subject, if any. */
  findFederated(issuer: string, subject: string): Promise<string | undefined>
  list(): Promise<Client[]>
  /** Replaces the given fields; undefined when there was no such client. */
  update(clientId: string, changes: Partial<Omit<ClientRegistration, 'credential'>>): Promise<Client | undefined>
  /** Replaces how the client authenticates, secret hash included ('' for none); false when there was no such client. */
  setCredential(clientId: string, credential: ClientCredential, secretHash: string): Promise<boolean>
  /** Replaces the secret's hash; false when there was no such client. */
  setSecret(clientId: string, secretHash: string): Promise<boolean>
  /** False when there was no such client. */
  delete(clientId: string): Promise<boolean>
  ping(): Promise<void>
  /** A database of its own (PostgreSQL): whether it is known to answer now; undefined for the in-process SQLite. */
  reachable?(): boolean
  close(): Promise<void>
}

/** A duplicate client id, or a second client for one federated issuer and subject. */
export class ClientExistsError extends Error {
  override name = 'ClientExistsError'
}

/** A row as both backends store it: scopes, audiences and privileges as space-separated strings. */
export interface ClientRow {
  client_id: string
  scope: string
  audiences: string
  privileges: string
  exchange_audiences: string
  secret_hash: string
  created_at: string
  auth_method: string
  /** NULL unless the credential has it; jwks as JSON text. */
  jwks_uri: string | null
  jwks: string | null
  federated_issuer: string | null
  federated_subject: string | null
}

/** The credential's columns, in this order in ROW_COLUMNS. */
export const CREDENTIAL_COLUMNS = ['auth_method', 'jwks_uri', 'jwks', 'federated_issuer', 'federated_subject'] as const
export const ROW_COLUMNS = ['client_id', 'scope', 'audiences', 'privileges', 'exchange_audiences', 'secret_hash', 'created_at', ...CREDENTIAL_COLUMNS] as const

/** The credential's column values. */
export function credentialColumns(credential: ClientCredential): Pick<ClientRow, (typeof CREDENTIAL_COLUMNS)[number]> {
  const keyed = credential.auth_method === 'client_secret' ? undefined : credential
  const federated = credential.auth_method === 'federated' ? credential : undefined
  return {
    auth_method: credential.auth_method,
    jwks_uri: keyed?.jwks_uri ?? null,
    jwks: keyed?.jwks === undefined ? null : JSON.stringify(keyed.jwks),
    federated_issuer: federated?.federated_issuer ?? null,
    federated_subject: federated?.federated_subject ?? null
  }
}

/** The row of a new client; its values in ROW_COLUMNS order are `ROW_COLUMNS.map((column) => row[column])`. */
export function rowOf(client: NewClient, now: string): ClientRow {
  return {
    client_id: client.client_id,
    scope: client.scopes.join(' '),
    audiences: client.audiences.join(' '),
    privileges: client.privileges.join(' '),
    exchange_audiences: (client.exchange_audiences ?? []).join(' '),
    secret_hash: client.secret_hash,
    created_at: now,
    ...credentialColumns(client.credential)
  }
}

/** The columns (and their stored values) of the fields `changes` names, for an UPDATE. */
export function changedColumns(changes: Partial<Omit<ClientRegistration, 'credential'>>): [column: 'scope' | 'audiences' | 'privileges' | 'exchange_audiences', value: string][] {
  const columns: [column: 'scope' | 'audiences' | 'privileges' | 'exchange_audiences', value: string][] = []
  if (changes.scopes !== undefined) columns.push(['scope', changes.scopes.join(' ')])
  if (changes.audiences !== undefined) columns.push(['audiences', changes.audiences.join(' ')])
  if (changes.privileges !== undefined) columns.push(['privileges', changes.privileges.join(' ')])
  if (changes.exchange_audiences !== undefined) columns.push(['exchange_audiences', changes.exchange_audiences.join(' ')])
  return columns
}

const AUTH_METHODS: readonly string[] = ['client_secret', 'private_key_jwt', 'federated'] satisfies AuthMethod[]

export function clientFromRow(row: ClientRow): ClientWithSecret {
  const { client_id, scope, audiences, privileges, exchange_audiences, secret_hash, created_at, auth_method, jwks_uri, jwks, federated_issuer, federated_subject } = row
  return {
    client_id,
    scopes: parseScopes(scope),
    audiences: parseScopes(audiences),
    // A privilege this release does not know (written by a newer one) grants nothing here.
    privileges: parseScopes(privileges).filter((name): name is Privilege => (PRIVILEGES as readonly string[]).includes(name)),
    exchange_audiences: parseScopes(exchange_audiences),
    // A method this release does not know authenticates nothing here: 'federated' without an issuer matches no token.
    auth_method: AUTH_METHODS.includes(auth_method) ? (auth_method as AuthMethod) : 'federated',
    ...(jwks_uri === null ? {} : { jwks_uri }),
    ...(jwks === null ? {} : { jwks: JSON.parse(jwks) as Client['jwks'] }),
    ...(federated_issuer === null ? {} : { federated_issuer }),
    ...(federated_subject === null ? {} : { federated_subject }),
    secret_hash,
    created_at
  }
}

export function withoutSecret({ secret_hash: _secret, ...client }: ClientWithSecret): Client {
  return client
}
