import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Client, ClientRegistration } from '../schemas/clients.js'
import type { RecordVersions } from '../stores/record-versions.js'
import { withoutSecret, type ClientStore, type ClientWithSecret } from '../stores/clients/index.js'
import { RecordCache } from './record-cache.js'
import type { ClientCredentials } from './client-credentials.js'
import { invalidClient } from './client-credentials.js'
import { toIso, type Clock } from './clock.js'

export { ClientExistsError } from '../stores/clients/index.js'

/** The registry of service accounts: what the clients CLI manages, and how /oauth/* authenticates them. */
export interface Clients {
  /**
   * The client the credentials prove, or 401 invalid_client (the same answer and cost for an unknown id).
   * `alongside(proven)` is the request's own per-client step (its rate limits, a grant's epoch), run in the
   * same Redis round trip as the check of a cached record's version; should the record turn out to have
   * changed, it runs again with the new verdict when that differs. It may throw (429), and then so does this.
   */
  authenticate(credentials: ClientCredentials, alongside?: (proven: boolean) => Promise<unknown>): Promise<Client>
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

/** Client records, secret hashes included: see record-cache.ts. */
const CLIENT_CACHE_MS = 30_000
const CLIENT_CACHE_SIZE = 5_000

export function createClients(store: ClientStore, forgetTokens: (clientId: string) => Promise<void>, clock: Clock, versions?: RecordVersions): Clients {
  // Only for a database of its own (PostgreSQL) and with versions to check it by (Redis).
  const reachable = store.reachable?.bind(store)
  const cache =
    versions !== undefined && reachable !== undefined
      ? new RecordCache<ClientWithSecret>({ versions, read: (id) => store.find(id), reachable, clock, ttlMs: CLIENT_CACHE_MS, size: CLIENT_CACHE_SIZE })
      : undefined
  const load = (clientId: string): Promise<ClientWithSecret | undefined> => (cache === undefined ? store.find(clientId) : cache.load(clientId))

  /** Every change of a client that cached copies must not outlive: the stored change first, then the new version. */
  const announce = async (clientId: string): Promise<void> => versions?.bump(clientId)

  // The old record and every token are refused from now on; both are in the revocation store, which may fail.
  const forget = async (clientId: string): Promise<void> => {
    try {
      await announce(clientId)
      await forgetTokens(clientId)
    } catch (error) {
      throw new TokensNotRevokedError(`the tokens of ${clientId} could not be revoked: ${(error as Error).message}`, { cause: error })
    }
  }
  return {
    async authenticate(credentials, alongside = async () => undefined) {
      const proves = (record: ClientWithSecret | undefined): boolean =>
        secretMatches(credentials.secret, record?.secret_hash ?? DUMMY_SECRET_HASH) && record !== undefined
      const answer = (record: ClientWithSecret | undefined, proven: boolean): Client => {
        if (record === undefined || !proven) throw invalidClient('unknown client or wrong secret', credentials.basic)
        return withoutSecret(record)
      }
      const cached = cache?.candidate(credentials.id)
      if (cached !== undefined) {
        const proven = proves(cached.value)
        // Issued in the same tick: ioredis sends both in one write (auto-pipelining), one round trip.
        const [version] = await Promise.all([versions!.current(credentials.id), alongside(proven)])
        if (version === cached.version) return answer(cached.value, proven)
        const record = await cache!.load(credentials.id, version)
        const provenNow = proves(record)
        if (provenNow !== proven) await alongside(provenNow)
        return answer(record, provenNow)
      }
      const record = await load(credentials.id)
      const proven = proves(record)
      await alongside(proven)
      return answer(record, proven)
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
    async update(clientId, changes) {
      const updated = await store.update(clientId, changes)
      // Should this fail, the change is stored but not yet seen by instances that cached the client: a retry announces it.
      if (updated !== undefined) await announce(clientId)
      return updated
    },
    async rotateSecret(clientId) {
      const secret = generateSecret()
      // Secret first: from now on nobody can get a token as this client but whoever is shown the new secret.
      if (!(await store.setSecret(clientId, hashSecret(secret)))) return undefined
      await forget(clientId)
      const client = await store.find(clientId)
      return client && { client: withoutSecret(client), secret }
    },
    async delete(clientId) {
      if ((await store.find(clientId)) === undefined) {
        // Perhaps the retry of a deletion whose last step failed: the row is gone, cached copies may not be.
        await announce(clientId)
        return false
      }
      // Tokens first: a failure leaves the client in place, so that a retry does both.
      await forget(clientId)
      const deleted = await store.delete(clientId)
      await announce(clientId)
      return deleted
    }
  }
}
