import type { Config } from '../config.js'
import { loadKeySet, type KeySet } from '../keys/key-set.js'
import { keepGenerations } from '../revocation/generation-keeper.js'
import { openRevocationFeed, type RevocationFeed } from '../revocation/index.js'
import { createClientStore, createUserStore, openRevocationStores, type RevocationStores } from '../stores/index.js'
import type { RecordVersions } from '../stores/record-versions.js'
import { redisConfigured, type Logger, type RedisClient } from '../stores/redis-connection.js'
import { createMailer, type Mailer } from '../mail/mailer.js'
import { createAccountAdmin, type AccountAdmin } from './account-admin.js'
import { createAccountTokens, type AccountTokens } from './account-tokens.js'
import { createAccounts, type Accounts } from './accounts.js'
import { createClientTokens, type ClientTokens } from './client-tokens.js'
import { createTokenExchange, type TokenExchange } from './token-exchange.js'
import { createClientAssertions, type ClientAssertions } from './client-assertions.js'
import { createClients, type Clients } from './clients.js'
import { createDpopProofs, type DpopProofs } from './dpop.js'
import { createDpopNonces, type DpopNonces } from './dpop-nonces.js'
import { monotonicOf, systemClock, type Clock } from './clock.js'
import { createKeySets } from './key-sets.js'
import { warmUpPasswords } from './passwords.js'
import { createSessions, endAllSessions, type Sessions } from './sessions.js'
import { createTokenIssuer, type SignPayload, type TokenIssuer } from './token-issuer.js'
import { createServiceVerifier, createSignedTokenReader, type Verifier } from './verifier.js'

export type StoreHealth = 'ok' | 'unavailable'

/** The domain core: plain services over narrow stores, given their keys, settings and clock. */
export interface Auth {
  accounts: Accounts
  /** What operators do to accounts: the users CLI's operations, for the admin API. */
  accountAdmin: AccountAdmin
  /** The tokens mailed to users: password reset, email verification. */
  accountTokens: AccountTokens
  mailer: Mailer
  sessions: Sessions
  clients: Clients
  clientTokens: ClientTokens
  /** RFC 8693 token exchange at /oauth/token. */
  tokenExchange: TokenExchange
  /** DPoP proofs (RFC 9449): checked, and their `jti` spent on every instance. */
  dpopProofs: DpopProofs
  /** DPOP_NONCE: the nonces every proof must carry, sent in `DPoP-Nonce`; undefined when none is required. */
  dpopNonces: DpopNonces | undefined
  verifier: Verifier
  issuer: TokenIssuer
  keys: KeySet
  clock: Clock
  /** Whether each store answers now (for /health/ready). */
  health(): Promise<{ users: StoreHealth; clients: StoreHealth; revocations: StoreHealth }>
  close(): Promise<void>
}

/**
 * The revocation feed, as infrastructure beside the domain core: the verifier reads its replica, and the
 * feed endpoint streams it; routes reach it only through this, never through `Auth`. Redis only.
 */
export interface RevocationFeeds {
  /** Whether the revocation store is Redis, where the feed is (GET /oauth/revocations exists only then). */
  available: boolean
  /** REVOCATION_CHECK=replicated: the in-memory replica the verifier answers from, and its reader. */
  replicated: RevocationFeed | undefined
  /** The feed for GET /oauth/revocations: the replicated check's, or one opened at the first subscriber; undefined without Redis. */
  forSubscribers(): RevocationFeed | undefined
}

export interface AuthOptions {
  /** Store connection warnings, and the mailer's lines (a mail not sent; in development, the mail itself). */
  log: Logger & { info(details: object, message: string): void; error(details: object, message: string): void }
  clock?: Clock
  keys?: KeySet
  /** The user-token signer (@fastify/jwt's `jwt.sign` in the app); the same fast-jwt signer otherwise. */
  signUserPayload?: SignPayload
}

/** Opens the stores the settings pick and builds the services over them. */
export async function openAuth(config: Config, options: AuthOptions): Promise<Auth> {
  return (await openAuthWithFeeds(config, options)).auth
}

/** What openAuthWithFeeds opens: the domain core, and the infrastructure beside it (both closed with `auth`). */
export interface OpenedAuth {
  auth: Auth
  /** The stores' Redis connection (undefined when embedded), which the rate limits share. */
  redis: RedisClient | undefined
  feeds: RevocationFeeds
}

/** openAuth, with the Redis connection and the revocation feed it reads. */
export async function openAuthWithFeeds(config: Config, options: AuthOptions): Promise<OpenedAuth> {
  const clock = options.clock ?? systemClock
  const keys = options.keys ?? loadKeySet(config)
  // A nonce passes for one to two proof windows (auth/dpop-nonces.ts).
  const dpopNonces = config.DPOP_NONCE ? createDpopNonces(keys, clock, config.DPOP_PROOF_MAX_AGE) : undefined
  const users = await createUserStore(config)
  const clientStore = await createClientStore(config).catch(async (error: unknown) => {
    await users.close()
    throw error
  })
  const revocations = await openRevocationStores(config, options.log, clock.now)
  const { sessions: sessionStore, clientTokens: clientTokenStore } = revocations

  const issuer = createTokenIssuer(keys, { issuer: config.ISSUER, audience: config.DEFAULT_AUDIENCE }, options.signUserPayload)
  const signedTokens = createSignedTokenReader(keys, { issuer: config.ISSUER, sessionTtl: config.SESSION_TTL, clock })
  let feed = config.REVOCATION_CHECK === 'replicated' ? openFeedFor(config, revocations, clock, options.log) : undefined
  // Without a feed reader of its own, the instance still begins the feed's generations (the library waits for them).
  const generations = feed === undefined && revocations.redis !== undefined && revocations.layout !== undefined
    ? keepGenerations(revocations.redis, revocations.layout, Math.max(5, Math.floor(config.REVOCATION_MAX_LAG_MS / 4)))
    : undefined
  const replicated = feed === undefined ? undefined : { replica: feed.replica, feedReader: feed.reader, layout: feed.layout, maxLagMs: config.REVOCATION_MAX_LAG_MS }
  const verifier = createServiceVerifier({ signedTokens, sessionStore, clientTokenStore, clock, defaultAudience: config.DEFAULT_AUDIENCE, replicated })
  const clientTokenService = createClientTokens({ clientTokenStore, sessionStore, issuer, signedTokens, verifier, clock, config })
  await warmUpPasswords()

  const answer = (ping: Promise<void>): Promise<StoreHealth> => ping.then(() => 'ok' as const, () => 'unavailable' as const)
  const feeds: RevocationFeeds = {
    available: revocations.redis !== undefined,
    get replicated() {
      return config.REVOCATION_CHECK === 'replicated' ? feed : undefined
    },
    forSubscribers: () => (feed ??= openFeedFor(config, revocations, clock, options.log))
  }
  const sessions = createSessions({ users, sessionStore, userVersions: revocations.userVersions, issuer, signedTokens, clock, config })
  const mailer = createMailer(config, options.log)
  const auth: Auth = {
    accounts: createAccounts(users, clock, sessions.endAll, revocations.userVersions),
    accountAdmin: createAccountAdmin(users, sessions.endAll, clock),
    accountTokens: createAccountTokens({ users, userVersions: revocations.userVersions, sessions, mailer, clock, config }),
    mailer,
    sessions,
    clients: createClients(clientStore, clientTokenService.forget, clock, {
      versions: revocations.clientVersions,
      assertions: createClientAssertions({
        settings: { issuer: config.ISSUER, clientAssertionMaxAge: config.CLIENT_ASSERTION_MAX_AGE, federatedMaxLifetime: config.FEDERATED_ASSERTION_MAX_LIFETIME },
        clock,
        keySets: createKeySets({ production: config.NODE_ENV === 'production', clock }),
        singleUse: revocations.singleUse
      })
    }),
    clientTokens: clientTokenService,
    tokenExchange: createTokenExchange({ verifier, issuer, config }),
    dpopProofs: createDpopProofs({ singleUse: revocations.singleUse, clock, maxAgeSeconds: config.DPOP_PROOF_MAX_AGE, nonces: dpopNonces }),
    dpopNonces,
    verifier,
    issuer,
    keys,
    clock,
    async health() {
      const [usersOk, clientsOk, revocationsOk] = await Promise.all([answer(users.ping()), answer(clientStore.ping()), answer(revocations.ping())])
      return { users: usersOk, clients: clientsOk, revocations: revocationsOk }
    },
    async close() {
      generations?.stop()
      await feed?.close()
      mailer.close()
      await Promise.allSettled([users.close(), clientStore.close(), revocations.close()])
    }
  }
  return { auth, redis: revocations.redis, feeds }
}

/** The replica, fed by the feed and by this instance's own revoking writes; undefined without Redis. */
function openFeedFor(config: Config, revocations: RevocationStores, clock: Clock, log: Logger): RevocationFeed | undefined {
  if (revocations.redis === undefined || revocations.layout === undefined) return undefined
  const feed = openRevocationFeed({ redis: revocations.redis, layout: revocations.layout, now: clock.now, monotonic: monotonicOf(clock), maxLagMs: config.REVOCATION_MAX_LAG_MS, commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS, log })
  revocations.onPublished((events) => feed.applyOwn(events))
  return feed
}

/**
 * What the users CLI needs, without keys: the users store, and the revocation stores (opened only when an
 * account's sessions must end) so that disabling or deleting an account ends its sessions everywhere at once.
 */
export async function openAccountAdmin(config: Config, log: Logger): Promise<{ accounts: AccountAdmin; close(): Promise<void> }> {
  const users = await createUserStore(config)
  let revocations: RevocationStores | undefined
  const endAll = async (sub: string): Promise<void> => {
    revocations ??= await openRevocationStores(config, log, systemClock.now)
    await endAllSessions(revocations.sessions, revocations.userVersions, systemClock, config)(sub)
  }
  return {
    accounts: createAccountAdmin(users, endAll, systemClock),
    async close() {
      await Promise.allSettled([users.close(), revocations?.close()])
    }
  }
}

/** The clients CLI manages clients and never authenticates one. */
const NO_ASSERTIONS: ClientAssertions = {
  check: async () => 'no client authenticates here',
  spend: async () => false
}

/** What the clients CLI needs, without keys or the user store: the registry, with token revocation on delete and rotation. */
export async function openClientAdmin(config: Config, log: Logger): Promise<{ clients: Clients; close(): Promise<void> }> {
  const clientStore = await createClientStore(config)
  let revocations: Awaited<ReturnType<typeof openRevocationStores>> | undefined
  // Opened only when a client changes: listing, showing and creating touch no revocation store.
  const open = async () => (revocations ??= await openRevocationStores(config, log, systemClock.now))
  const forget = async (clientId: string): Promise<void> => {
    const now = systemClock.now()
    return (await open()).clientTokens.forget(clientId, now, now + config.CLIENT_TOKEN_TTL * 1000)
  }
  // The service's instances cache client records by these versions (clients.ts): every change bumps them.
  const versions: RecordVersions | undefined =
    !redisConfigured(config)
      ? undefined
      : {
          current: async (clientId) => (await (await open()).clientVersions?.current(clientId)) ?? '0',
          bump: async (clientId) => (await open()).clientVersions?.bump(clientId)
        }
  return {
    clients: createClients(clientStore, forget, systemClock, { versions, assertions: NO_ASSERTIONS }),
    async close() {
      await Promise.allSettled([clientStore.close(), revocations?.close()])
    }
  }
}
