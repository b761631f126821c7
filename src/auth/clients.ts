import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Client, ClientRegistration } from '../schemas/clients.js'
import { withoutSecret, type ClientStore } from '../stores/clients/index.js'
import type { ClientCredentials } from './client-credentials.js'
import { invalidClient } from './client-credentials.js'
import { toIso, type Clock } from './clock.js'

export { ClientExistsError } from '../stores/clients/index.js'

/** The registry of service accounts: what the clients CLI manages, and how /oauth/* authenticates them. */
export interface Clients {
  /** The client the credentials prove, or 401 invalid_client (the same answer and cost for an unknown id). */
  authenticate(credentials: ClientCredentials): Promise<Client>
  /** A new client and its secret (shown only now); ClientExistsError for a duplicate id. */
  create(clientId: string, registration: ClientRegistration): Promise<{ client: Client; secret: string }>
  list(): Promise<Client[]>
  /** The client (never its secret), or undefined. */
  find(clientId: string): Promise<Client | undefined>
  /** Replaces the fields given; undefined when there is no such client. Tokens already issued keep their claims. */
  update(clientId: string, changes: Partial<ClientRegistration>): Promise<Client | undefined>
  /**
   * A new secret (shown only now): the old one stops working at once, then every token the client holds
   * is refused. Undefined when there is no such client. When the tokens cannot be refused, it throws
   * TokensNotRevokedError: the old secret is dead already and the new one was never shown, so a retry
   * finishes the job.
   */
  rotateSecret(clientId: string): Promise<{ client: Client; secret: string } | undefined>
  /**
   * Refuses every token the client holds, then deletes it; false when there was none. When the tokens
   * cannot be refused, it throws TokensNotRevokedError and the client is still there: a retry does both.
   */
  delete(clientId: string): Promise<boolean>
}

/** The revocation store could not refuse the client's tokens (see delete and rotateSecret). */
export class TokensNotRevokedError extends Error {
  override name = 'TokensNotRevokedError'
}

/**
 * Secrets are ours, with 256 bits of entropy: a fast hash is enough to store them (no dictionary to
 * guess from), and a grant costs no argon2.
 */
const generateSecret = (): string => randomBytes(32).toString('base64url')
const hashSecret = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('hex')

/** Constant-time: compares fixed-length digests, never the secrets themselves. */
function secretMatches(secret: string, secretHash: string): boolean {
  const expected = Buffer.from(secretHash, 'hex')
  const actual = createHash('sha256').update(secret, 'utf8').digest()
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}

/** Compared against when the client is unknown, so that an unknown id costs what a wrong secret does. */
const DUMMY_SECRET_HASH = hashSecret('no client has this secret')

export function createClients(store: ClientStore, forgetTokens: (clientId: string) => Promise<void>, clock: Clock): Clients {
  const forget = async (clientId: string): Promise<void> => {
    try {
      await forgetTokens(clientId)
    } catch (error) {
      throw new TokensNotRevokedError(`the tokens of ${clientId} could not be revoked: ${(error as Error).message}`, { cause: error })
    }
  }
  return {
    async authenticate(credentials) {
      const client = await store.find(credentials.id)
      const matches = secretMatches(credentials.secret, client?.secret_hash ?? DUMMY_SECRET_HASH)
      if (client === undefined || !matches) throw invalidClient('unknown client or wrong secret', credentials.basic)
      const { secret_hash: _secret, ...authenticated } = client
      return authenticated
    },
    async create(clientId, registration) {
      const secret = generateSecret()
      const client = await store.create({ client_id: clientId, ...registration, secret_hash: hashSecret(secret) }, toIso(clock.now()))
      return { client, secret }
    },
    list: () => store.list(),
    async find(clientId) {
      const client = await store.find(clientId)
      return client && withoutSecret(client)
    },
    update: (clientId, changes) => store.update(clientId, changes),
    async rotateSecret(clientId) {
      const secret = generateSecret()
      // Secret first: from now on nobody can get a token as this client but whoever is shown the new secret.
      if (!(await store.setSecret(clientId, hashSecret(secret)))) return undefined
      await forget(clientId)
      const client = await store.find(clientId)
      return client && { client: withoutSecret(client), secret }
    },
    async delete(clientId) {
      if ((await store.find(clientId)) === undefined) return false
      // Tokens first: a failure leaves the client in place, so that a retry does both.
      await forget(clientId)
      return store.delete(clientId)
    }
  }
}
