import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Client, ClientRegistration } from '../schemas/clients.js'
import type { RecordVersions } from '../stores/record-versions.js'
import { withoutSecret, type ClientStore, type ClientWithSecret } from '../stores/clients/index.js'
import type { ClientAssertions } from './client-assertions.js'
import { RecordCache } from './record-cache.js'
import type { ClientCredentials } from './client-credentials.js'
import { invalidClient } from './client-credentials.js'
import { toIso, type Clock } from './clock.js'

export { ClientExistsError } from '../stores/clients/index.js'

/** The registry of service accounts: what the clients CLI manages, and how /oauth/* authenticates them. */
export interface Clients {
  /**
   * The client the credentials prove, or 401 invalid_client (the same answer and cost for an unknown id
   * with a secret). `endpoint`: the URL the request was made to, which an assertion may name as `aud`.
   * `alongside(clientId, proven)` is the request's own per-client step (its rate limits, a grant's epoch),
   * run in the same Redis round trip as the check of a cached record's version; should the record turn
   * out to have changed, it runs again with the new verdict when that differs. It may throw (429), and
   * then so does this.
   */
  authenticate(credentials: ClientCredentials, options?: { endpoint?: string; alongside?: (clientId: string, proven: boolean) => Promise<unknown> }): Promise<Client>
  /**
   * A new client, and its secret (shown only now) when it authenticates with one; ClientExistsError for a
   * duplicate id, or for a second client of one federated issuer and subject.
   */
  create(clientId: string, registration: SecretRegistration): Promise<{ client: Client; secret: string }>
  create(clientId: string, registration: ClientRegistration): Promise<{ client: Client; secret: string | undefined }>
  list(): Promise<Client[]>
  /** The client (never its secret), or undefined. */
  find(clientId: string): Promise<Client | undefined>
  /**
   * Replaces the fields given; undefined when there is no such client. Tokens already issued keep their
   * claims, unless the credential changes: then, as for rotateSecret, the old one stops working and every
   * token is refused, and a new secret (when the new credential is one) is shown only now.
   */
  update(clientId: string, changes: Partial<ClientRegistration>): Promise<{ client: Client; secret: string | undefined } | undefined>
  /**
   * A new secret (shown only now): the old one stops working at once, then every token the client holds
   * is refused. Undefined when there is no such client. When the tokens cannot be refused, it throws
   * TokensNotRevokedError: the old secret is dead already and the new one was never shown, so a retry
   * finishes the job. NoSecretError for a client that authenticates without a secret.
   */
  rotateSecret(clientId: string): Promise<{ client: Client; secret: string } | undefined>
  /**
   * Refuses every token the client holds, then deletes it; false when there was none. When the tokens
   * cannot be refused, it throws TokensNotRevokedError and the client is still there: a retry does both.
   */
  delete(clientId: string): Promise<boolean>
}

/** A registration without a credential, or with client_secret: its client has a secret. */
type SecretRegistration = ClientRegistration & { credential?: { auth_method: 'client_secret' } }

/** The revocation store could not refuse the client's tokens (see delete and rotateSecret). */
export class TokensNotRevokedError extends Error {
  override name = 'TokensNotRevokedError'
}

/** rotateSecret of a client that authenticates with keys or a federated token. */
export class NoSecretError extends Error {
  override name = 'NoSecretError'
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

export function createClients(
  store: ClientStore,
  forgetTokens: (clientId: string) => Promise<void>,
  clock: Clock,
  options: { versions?: RecordVersions | undefined; assertions: ClientAssertions }
): Clients {
  const { versions, assertions } = options
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
    async authenticate(credentials, { endpoint = '', alongside = async () => undefined } = {}) {
      // A federated workload's token names its own issuer and subject: the client that trusts them, when no id is given.
      const clientId = credentials.id ?? (credentials.kind === 'assertion' ? await store.findFederated(credentials.asserted.iss, credentials.asserted.sub) : undefined)
      if (clientId === undefined) {
        // Counted like a wrong secret, by the subject it claims.
        await alongside(credentials.kind === 'assertion' ? credentials.asserted.sub : '', false)
        throw invalidClient('no client trusts the assertion\'s issuer and subject', false)
      }
      let refusal = credentials.kind === 'secret' ? 'unknown client or wrong secret' : 'unknown client'
      // Only the check, which may run again on a newer record; an assertion's jti is spent once the verdict is in.
      const proves = async (record: ClientWithSecret | undefined): Promise<boolean> => {
        if (credentials.kind === 'secret') return secretMatches(credentials.secret, record?.secret_hash ?? DUMMY_SECRET_HASH) && record !== undefined
        if (record === undefined) return false
        const problem = await assertions.check(credentials.assertion, record, endpoint)
        if (problem !== undefined) refusal = problem
        return problem === undefined
      }
      const spend = async (record: ClientWithSecret | undefined, proven: boolean): Promise<boolean> => {
        if (!proven || credentials.kind === 'secret' || (await assertions.spend(credentials.assertion, record!))) return proven
        refusal = 'the assertion was used before (jti)'
        return false
      }
      const answer = (record: ClientWithSecret | undefined, proven: boolean): Client => {
        if (record === undefined || !proven) throw invalidClient(refusal, credentials.basic)
        return withoutSecret(record)
      }
      const cached = cache?.candidate(clientId)
      if (cached !== undefined && credentials.kind === 'secret') {
        const proven = await proves(cached.value)
        // Issued in the same tick: ioredis sends both in one write (auto-pipelining), one round trip.
        const [version] = await Promise.all([versions!.current(clientId), alongside(clientId, proven)])
        if (version === cached.version) return answer(cached.value, proven)
        const record = await cache!.load(clientId, version)
        const provenNow = await proves(record)
        if (provenNow !== proven) await alongside(clientId, provenNow)
        return answer(record, provenNow)
      }
      if (cached !== undefined) {
        // An assertion: its jti is spent, and the limits count the signature's verdict, in the round trip that
        // confirms the cached record; a replay or a changed record is counted again with the final verdict.
        const signed = await proves(cached.value)
        const [version, spent] = await Promise.all([versions!.current(clientId), spend(cached.value, signed), alongside(clientId, signed)])
        const record = version === cached.version ? cached.value : await cache!.load(clientId, version)
        const proven = record === cached.value ? spent : spent && (await proves(record))
        if (proven !== signed) await alongside(clientId, proven)
        return answer(record, proven)
      }
      const record = await load(clientId)
      const proven = await spend(record, await proves(record))
      await alongside(clientId, proven)
      return answer(record, proven)
    },
    // The overloads only narrow the secret's type by the credential's; one body serves both.
    create: (async (clientId: string, { credential = { auth_method: 'client_secret' }, ...registration }: ClientRegistration) => {
      const secret = credential.auth_method === 'client_secret' ? generateSecret() : undefined
      const client = await store.create({ client_id: clientId, ...registration, credential, secret_hash: secret === undefined ? '' : hashSecret(secret) }, toIso(clock.now()))
      return { client, secret }
    }) as Clients['create'],
    list: () => store.list(),
    async find(clientId) {
      const client = await store.find(clientId)
      return client && withoutSecret(client)
    },
    async update(clientId, { credential, ...changes }) {
      const secret = credential?.auth_method === 'client_secret' ? generateSecret() : undefined
      // The credential first, as rotateSecret does: from now on only the new one proves the client.
      if (credential !== undefined) {
        if (!(await store.setCredential(clientId, credential, secret === undefined ? '' : hashSecret(secret)))) return undefined
        await forget(clientId)
      }
      const updated = await store.update(clientId, changes)
      // Should this fail, the change is stored but not yet seen by instances that cached the client: a retry announces it.
      if (updated !== undefined) await announce(clientId)
      return updated && { client: updated, secret }
    },
    async rotateSecret(clientId) {
      const existing = await store.find(clientId)
      if (existing === undefined) return undefined
      if (existing.auth_method !== 'client_secret') throw new NoSecretError(`${clientId} authenticates with ${existing.auth_method}, not a secret`)
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
