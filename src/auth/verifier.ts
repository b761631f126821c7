import { createVerifier as createJwtVerifier, type Algorithm } from 'fast-jwt'
import { ServiceError } from '../errors.js'
import {
  claimsFitKind,
  delegatedChecks,
  GenerationalCache,
  REQUIRED_CLAIMS,
  sessionEndMs,
  tokenKind,
  tokenKindOf,
  type FeedLayout,
  type FeedReader,
  type RevocationCheck,
  type RevocationReplica,
  type TokenKind
} from '@jwt-auth-service/verifier/feed'
import type { KeySet } from '../keys/key-set.js'
import type { UserClaims, VerifiedToken } from '../schemas/tokens.js'
import type { ClientTokenRef, ClientTokenStore } from '../stores/client-tokens/index.js'
import type { SessionStore, TokenRef, TokenStatus } from '../stores/sessions/index.js'
import type { Clock } from './clock.js'
import { jsonObject } from './jws.js'

const ACTIVE: Promise<TokenStatus> = Promise.resolve('active')
const REVOKED: Promise<TokenStatus> = Promise.resolve('revoked')

export interface Verifier {
  /**
   * The only way a token is accepted: signature (the algorithm pinned to the key its `kid` names),
   * `typ`, `iss`, the required claims, expiry and session expiry by the clock, the audience, then the
   * revocation state (one store round trip). Throws a 401 ServiceError (TOKEN_INVALID, TOKEN_EXPIRED,
   * SESSION_EXPIRED, TOKEN_REVOKED), or a 503 when the store cannot answer.
   */
  verify(token: string, expect?: Expectation): Promise<VerifiedToken>
  /** verify(), for routes that take user tokens only (of DEFAULT_AUDIENCE). */
  verifyUser(token: string): Promise<UserClaims>
  /**
   * verifyUser(), and `alongside(claims)` started in the same tick as the token's store check (so that its
   * own Redis reads ride the same round trip); its answer is handed back only for an accepted token.
   */
  verifyUserWith<T>(token: string, alongside: (claims: UserClaims) => Promise<T>): Promise<{ claims: UserClaims; along: T }>
  /**
   * verifyUser(), for the routes that end the token's own session (logout): they also take a token
   * that is `ending`, whose own logout was written but not yet acknowledged (a retry after a 503), and
   * only to end it again. Every other route refuses such a token.
   */
  verifyUserOrEnding(token: string): Promise<{ claims: UserClaims; ending: boolean }>
}

/**
 * The audience the token must be for (RFC 8725 §3.9; RFC 9068 §4): DEFAULT_AUDIENCE unless the caller
 * names one (a gateway, for its upstream). Only introspection, which reports `aud` to a client that
 * may see the token, takes any.
 */
export type Expectation = { audience: string } | { anyAudience: true }

/** A genuine token, sent to another service: 401 TOKEN_INVALID, its own class so that the reason can be logged. */
export class AudienceMismatchError extends ServiceError {
  override name = 'AudienceMismatchError'
  constructor(readonly expected: string, readonly audiences: string[]) {
    super('TOKEN_INVALID', `the token is not meant for ${expected}`)
  }
}

/** The audiences a token is for: its `aud` (a string or, from elsewhere, a list); DEFAULT_AUDIENCE for a user token issued before audiences existed, which has none. */
export function audiencesOf(verified: VerifiedToken, defaultAudience: string): string[] {
  const aud: unknown = verified.claims.aud
  if (aud === undefined && verified.kind === 'user') return [defaultAudience]
  if (typeof aud === 'string') return [aud]
  return Array.isArray(aud) ? aud.filter((value): value is string => typeof value === 'string') : []
}

/**
 * Everything the verifier checks but the revocation state. Not an acceptance: it serves the two
 * operations whose own atomic store step decides on revocation (rotation, and revoking a token),
 * and it is never handed to routes.
 */
export interface SignedTokenReader {
  /**
   * `keep: false` for a token about to be rotated or revoked, which will not be presented again: it is
   * not kept among the verified tokens (a refresh would otherwise fill them with dead tokens).
   * `expiredForMs`: a refresh's REFRESH_AFTER_EXPIRY, how long after its `exp` the token is still read (the
   * store then decides whether it is still its session's current token); 0 everywhere else.
   */
  read(token: string, options?: { keep: boolean; expiredForMs?: number }): VerifiedToken
}

/**
 * Tokens whose signature, `typ`, `iss` and claims were verified, kept so that a token presented again
 * costs a lookup: no header parse, no hash, no signature check. Keyed by the whole token (it is its own
 * proof), two generations of at most this many each; time (expiry, session end) is checked on every read.
 */
const VERIFIED_CACHE_SIZE = 5_000

type SignedPayload = { kind: TokenKind; payload: Record<string, unknown> }

type JwtVerifier = (token: string) => { payload: Record<string, unknown> }

/** The JOSE header of a compact JWS, without verifying anything; undefined when it is not a JSON object. */
function headerOf(token: string): Record<string, unknown> | undefined {
  const part = token.split('.', 1)[0]!
  return part.length > 8192 ? undefined : jsonObject(part)
}

/**
 * RFC 7519 §4.1.4: a token is refused from `exp` on, to the millisecond, which is also when its
 * deny-list entry ends (nothing outlives the token it revokes).
 *
 * One fast-jwt verifier per key and token type, chosen by `kid` and `typ`: an unknown kid fails before
 * any crypto. fast-jwt checks signature, algorithm, `typ`, `iss` and the required claims; time is
 * decided here, by the clock (fast-jwt's own clock is fixed per verifier, so its expiry check is off).
 */
export function createSignedTokenReader(keys: KeySet, options: { issuer: string; sessionTtl: number; clock: Clock }): SignedTokenReader {
  const { issuer, sessionTtl, clock } = options
  const verifiers = new Map<string, { user: JwtVerifier; client: JwtVerifier }>()
  for (const [kid, key] of keys.byKid) {
    const common = {
      key: key.publicKey,
      algorithms: [key.alg as Algorithm],
      allowedIss: issuer,
      complete: true,
      ignoreExpiration: true
    }
    verifiers.set(kid, {
      user: createJwtVerifier({ ...common, checkTyp: 'jwt', requiredClaims: [...REQUIRED_CLAIMS.user] }) as JwtVerifier,
      client: createJwtVerifier({ ...common, checkTyp: 'at+jwt', requiredClaims: [...REQUIRED_CLAIMS.client] }) as JwtVerifier
    })
  }

  const verified = new GenerationalCache<SignedPayload>(VERIFIED_CACHE_SIZE)

  function signedPayload(token: string, keep: boolean): SignedPayload {
    const known = verified.get(token)
    if (known !== undefined) return known
    const signed = checkSignedPayload(token)
    // Shared by every request that presents the token: nobody may change it.
    Object.freeze(signed.payload)
    if (keep) verified.set(token, Object.freeze(signed))
    return signed
  }

  function checkSignedPayload(token: string): SignedPayload {
    const header = headerOf(token)
    const entry = typeof header?.kid === 'string' ? verifiers.get(header.kid) : undefined
    if (entry === undefined) throw new ServiceError('TOKEN_INVALID', 'the token was not signed by one of our keys')
    const typKind = tokenKindOf(header?.typ)
    if (typKind === undefined) throw new ServiceError('TOKEN_INVALID')
    let payload: Record<string, unknown>
    try {
      payload = entry[typKind](token).payload
    } catch {
      throw new ServiceError('TOKEN_INVALID')
    }
    return { kind: tokenKind(typKind, payload), payload }
  }

  return {
    read(token, { keep, expiredForMs = 0 } = { keep: true }) {
      const { kind, payload } = signedPayload(token, keep)
      if (!claimsFitKind(kind, payload)) throw new ServiceError('TOKEN_INVALID')
      const verified = { kind, claims: payload } as VerifiedToken
      const now = clock.now()
      if (verified.kind === 'user' && sessionEndMs(verified.claims.auth_time, sessionTtl) <= now) throw new ServiceError('SESSION_EXPIRED')
      if (verified.claims.exp * 1000 + (verified.kind === 'user' ? expiredForMs : 0) <= now) throw new ServiceError('TOKEN_EXPIRED')
      return verified
    }
  }
}

/**
 * REVOCATION_CHECK=replicated: the revocation state from the in-memory replica while it is known to be
 * at most `maxLagMs` behind the feed, from the store (strict) otherwise. A token refused by the replica is
 * refused; one it accepts was not revoked longer than `maxLagMs` ago.
 */
export interface ReplicatedCheck {
  replica: RevocationReplica
  feedReader: Pick<FeedReader, 'lagMs'>
  layout: Pick<FeedLayout, 'shardOf'>
  maxLagMs: number
}

export interface VerifierDependencies {
  signedTokens: SignedTokenReader
  sessionStore: SessionStore
  clientTokenStore: ClientTokenStore
  clock: Clock
  defaultAudience: string
  replicated?: ReplicatedCheck
}

export function createServiceVerifier({ signedTokens, sessionStore, clientTokenStore, clock, defaultAudience, replicated }: VerifierDependencies): Verifier {
  /** Everything but the store's verdict: signature, claims, time, kind and audience. */
  function read(token: string, expect: Expectation, userOnly: boolean): VerifiedToken {
    const verified = signedTokens.read(token)
    if (userOnly && verified.kind !== 'user') throw new ServiceError('TOKEN_INVALID', 'the token is not a user token')
    if ('audience' in expect) {
      const audiences = audiencesOf(verified, defaultAudience)
      // Sent to another service: refused here, however genuine (RFC 8725 §3.9).
      if (!audiences.includes(expect.audience)) throw new AudienceMismatchError(expect.audience, audiences)
    }
    return verified
  }

  const strictCheck = (check: RevocationCheck, now: number): Promise<TokenStatus> =>
    check.kind === 'session' ? sessionStore.check(check.claims as TokenRef, now) : clientTokenStore.check(check.claims as ClientTokenRef, now)

  /** A delegated token: all of its checks in the same tick, so that they share one round trip. */
  async function strictChainStatus(checks: RevocationCheck[], now: number): Promise<TokenStatus> {
    const statuses = await Promise.all(checks.map((check) => strictCheck(check, now)))
    return statuses.every((status) => status === 'active') ? 'active' : 'revoked'
  }

  function strictStatusOf(verified: VerifiedToken): Promise<TokenStatus> {
    const now = clock.now()
    if (verified.kind === 'user') return sessionStore.check(verified.claims, now)
    if (verified.kind === 'client') return clientTokenStore.check(verified.claims, now)
    return strictChainStatus(delegatedChecks(verified.claims), now)
  }

  function replicatedStatusOf({ replica, feedReader, layout, maxLagMs }: ReplicatedCheck, verified: VerifiedToken): Promise<TokenStatus> {
    if (feedReader.lagMs() > maxLagMs) return strictStatusOf(verified)
    const now = clock.now()
    // User and client tokens, the hot path: one verdict, as before delegated tokens existed.
    if (verified.kind !== 'delegated') {
      const owner = verified.kind === 'user' ? verified.claims.sub : verified.claims.client_id
      const verdict = replica.verdict(verified.claims, layout.shardOf(owner), now)
      // A token of a generation the replica has not seen yet: the store knows.
      if (verdict === 'unknown') return strictStatusOf(verified)
      return verdict === 'revoked' ? REVOKED : ACTIVE
    }
    const verdicts = delegatedChecks(verified.claims).map((check) => replica.verdict(check.claims, layout.shardOf(check.owner), now))
    if (verdicts.includes('revoked')) return REVOKED
    return verdicts.includes('unknown') ? strictStatusOf(verified) : ACTIVE
  }

  const statusOf = (verified: VerifiedToken): Promise<TokenStatus> =>
    replicated === undefined ? strictStatusOf(verified) : replicatedStatusOf(replicated, verified)

  async function check(token: string, expect: Expectation, userOnly: boolean): Promise<{ verified: VerifiedToken; status: TokenStatus }> {
    const verified = read(token, expect, userOnly)
    return { verified, status: await statusOf(verified) }
  }

  async function verify(token: string, expect: Expectation = { audience: defaultAudience }, userOnly = false): Promise<VerifiedToken> {
    const { verified, status } = await check(token, expect, userOnly)
    if (status !== 'active') throw new ServiceError('TOKEN_REVOKED')
    return verified
  }

  return {
    verify: (token, expect) => verify(token, expect),
    async verifyUser(token) {
      return (await verify(token, undefined, true)).claims as UserClaims
    },
    async verifyUserWith(token, alongside) {
      const verified = read(token, { audience: defaultAudience }, true)
      const claims = verified.claims as UserClaims
      const along = alongside(claims)
      // Should the check refuse the token first, alongside's own failure is not left unhandled.
      along.catch(() => undefined)
      if ((await statusOf(verified)) !== 'active') throw new ServiceError('TOKEN_REVOKED')
      return { claims, along: await along }
    },
    async verifyUserOrEnding(token) {
      // Strict in every mode: only the store knows whether the token's own logout awaits acknowledgement.
      const verified = read(token, { audience: defaultAudience }, true)
      const status = await strictStatusOf(verified)
      if (status === 'revoked') throw new ServiceError('TOKEN_REVOKED')
      return { claims: verified.claims as UserClaims, ending: status === 'ending' }
    }
  }
}
