import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Client, ClientRegistration } from '../schemas/clients.js'
import type { ClientStore } from '../stores/clients/index.js'
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
  /** Deletes the client and refuses every token it holds, at once; false when there was none. */
  delete(clientId: string): Promise<boolean>
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
    async delete(clientId) {
      if (!(await store.delete(clientId))) return false
      await forgetTokens(clientId)
      return true
    }
  }
}
