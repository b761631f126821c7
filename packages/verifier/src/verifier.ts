import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose'
import { systemClock, type Clock, type Monotonic } from './clock.js'
import { openRedisFeed } from './feed/redis-feed.js'
import { openSseFeed } from './feed/sse.js'
import { GenerationalCache } from './generational-cache.js'
import { delegatedChecks, type DelegatedClaims, type RevocationCheck } from './delegation.js'
import { checkProofWithJose, ProofReplayCache, type CheckedProof } from './dpop.js'
import { claimsFitKind, missingScopes, sessionEndMs, TOKEN_ALGORITHMS, TOKEN_KINDS, tokenKind, tokenKindOf, type Actor, type ExchangedFrom, type TokenKind } from './token-profile.js'

/**
 * @jwt-auth-service/verifier: verify jwt-auth-service's tokens inside another service, without a round trip,
 * and still refuse a revoked one within `maxLagMs`.
 *
 *   const verifier = createVerifier({ issuer: 'https://auth.example.com', audience: 'https://api.example.com',
 *     feed: { url: 'https://auth.example.com/oauth/revocations', clientId: 'orders', clientSecret } })
 *   const claims = await verifier.verify(token, { scopes: ['orders:read'] })
 *
 * Signatures are checked against the issuer's JWKS (fetched, cached, fetched again for an unknown `kid`
 * at most once per `jwksCooldownMs`); `typ`, `iss`, `aud`, `exp` and the claims the service always
 * writes are checked; the revocation state comes from an in-memory replica of the revocation feed, read
 * from Redis directly (`{ redisUrl }`) or from the service over HTTP (`{ url, clientId, clientSecret }`,
 * a client with the `revocations` privilege; `{ url, clientId, accessToken }` for one without a secret).
 * While the replica may be older than `maxLagMs` (the feed is broken, or behind), every token is refused
 * with FEED_STALE (503): never accepted unchecked.
 */
export type FeedSource =
  | { redisUrl: string; keyPrefix?: string }
  | { redisClusterNodes: string; keyPrefix?: string }
  | { url: string; clientId: string; clientSecret: string }
  /** A client without a secret: an access token of its own for `url` as resource, asked again for each connection. */
  | { url: string; clientId: string; accessToken: () => Promise<string> }

export interface VerifierOptions {
  /** The service's ISSUER: every token's `iss`. */
  issuer: string
  /**
   * This service's audience: the `resource` its clients ask tokens for, or the service's DEFAULT_AUDIENCE for
   * user tokens. A list when it takes tokens under several names (user tokens and client tokens, say).
   */
  audience: string | readonly string[]
  /**
   * The kinds of token this service takes; a token of another kind is refused, whatever its audience. Required,
   * as issuer and audience are: an API for users that took a service's token would let the service act as anyone.
   * `delegated`: a token a client got by token exchange (RFC 8693) to call this service for a user or another
   * client (`sub`), with `act` naming the client that acts; it is refused once its user's session ends or
   * any token it was exchanged from is revoked.
   */
  accept: readonly TokenKind[]
  feed: FeedSource
  /** Default: `<issuer>/.well-known/jwks.json`. */
  jwksUri?: string
  /**
   * The service's SESSION_TTL (s). With it, a user token whose session has ended is refused (SESSION_EXPIRED)
   * even when a lowered SESSION_TTL ended it before the token's `exp`, as the service refuses it. Without it,
   * `exp` alone bounds a user token, which the service caps at the session's end when it issues it.
   */
  sessionTtl?: number
  /** Default 250 (ms), as the service's REVOCATION_MAX_LAG_MS. */
  maxLagMs?: number
  /** Default 30,000 (ms). */
  jwksCooldownMs?: number
  /** Told every failure of the feed (it reconnects by itself). */
  onError?: (error: Error) => void
  /** What expiry and revocations are judged by; the system clock by default (tests set their own). */
  clock?: Clock
  /** What the feed's staleness is measured by (ms, never going back); performance.now by default. */
  monotonic?: Monotonic
  /** The service's DPOP_PROOF_MAX_AGE (s): how old a DPoP proof's `iat` may be. Default 60. */
  dpopProofMaxAge?: number
}

/**
 * The request a DPoP-bound token came with (RFC 9449 §7): its `DPoP` header (undefined when absent), its method,
 * and its absolute URL as the client called it (the query is ignored).
 */
export interface DpopRequest {
  proof: string | undefined
  method: string
  url: string
}

export interface VerifiedClaims extends JWTPayload {
  /** Not a claim: the token's kind, which `accept` admitted. */
  readonly kind: TokenKind
  iss: string
  sub: string
  jti: string
  iat: number
  exp: number
  /** User tokens. */
  sid?: string
  auth_time?: number
  /** Client-credentials and delegated tokens: the client the token was issued to, and its scopes. */
  client_id?: string
  scope?: string
  /** Delegated tokens (RFC 8693 §4.1): who acts for `sub`, nested along a chain of exchanges. */
  act?: Actor
  /** Delegated tokens: what their revocation is checked against (the package's delegation.ts). */
  exchanged_from?: ExchangedFrom[]
  /** The revocation feed's generation it was issued in, and a client token's epoch (markers, not times). */
  gen?: number
  epoch?: number
}

export type VerificationCode = 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'SESSION_EXPIRED' | 'TOKEN_REVOKED' | 'DPOP_PROOF_INVALID' | 'INSUFFICIENT_SCOPE' | 'FEED_STALE' | 'KEYS_UNAVAILABLE'

const STATUS: Record<VerificationCode, 401 | 403 | 503> = {
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  SESSION_EXPIRED: 401,
  TOKEN_REVOKED: 401,
  DPOP_PROOF_INVALID: 401,
  INSUFFICIENT_SCOPE: 403,
  FEED_STALE: 503,
  // The JWKS could not be fetched: an outage is not the token's fault.
  KEYS_UNAVAILABLE: 503
}

export class VerificationError extends Error {
  override name = 'VerificationError'
  readonly statusCode: 401 | 403 | 503
  constructor(readonly code: VerificationCode, message: string) {
    super(message)
    this.statusCode = STATUS[code]
  }
}

export interface TokenVerifier {
  /**
   * The token's claims, or a VerificationError. `scopes`: each must be in the token's `scope`. `dpop`: the
   * request's DPoP proof, method and URL, when the token came as `Authorization: DPoP`; a token bound to a key
   * (`cnf.jkt`) is refused without it, and an unbound one with it (DPOP_PROOF_INVALID).
   */
  verify(token: string, options?: { scopes?: string[]; dpop?: DpopRequest }): Promise<VerifiedClaims>
  /** How stale the replica may be now (ms); Infinity until the feed's first proof. */
  lagMs(): number
  /** Resolves once the replica is within `maxLagMs` (rejects after `timeoutMs`). */
  ready(timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

const ALGORITHMS = [...TOKEN_ALGORITHMS]
const VERIFIED_CACHE_SIZE = 5_000

interface Known {
  claims: VerifiedClaims
  /** What the replica is asked, all of which must pass. */
  checks: RevocationCheck[]
}

export function createVerifier(options: VerifierOptions): TokenVerifier {
  const { issuer, audience, feed } = options
  if (typeof issuer !== 'string' || issuer === '') throw new TypeError('createVerifier: `issuer` is required (the service\'s ISSUER)')
  const audiences: unknown[] = Array.isArray(audience) ? audience : [audience]
  if (audiences.length === 0 || !audiences.every((name) => typeof name === 'string' && name !== '')) {
    throw new TypeError('createVerifier: `audience` is required (the audience this service accepts, or a list of them)')
  }
  if (feed === undefined) throw new TypeError('createVerifier: `feed` is required ({ redisUrl } or { url, clientId, clientSecret })')
  const accept: unknown = options.accept
  if (!Array.isArray(accept) || accept.length === 0 || !accept.every((kind) => TOKEN_KINDS.includes(kind as TokenKind))) {
    throw new TypeError("createVerifier: `accept` is required: the kinds of token this service takes, among 'user', 'client' and 'delegated'")
  }
  const accepted = new Set(accept as TokenKind[])
  const maxLagMs = options.maxLagMs ?? 250
  const sessionTtl = options.sessionTtl
  if (sessionTtl !== undefined && !(Number.isInteger(sessionTtl) && sessionTtl > 0)) throw new TypeError('createVerifier: `sessionTtl` is the service\'s SESSION_TTL, a whole number of seconds')
  const jwks = createRemoteJWKSet(new URL(options.jwksUri ?? `${issuer.replace(/\/$/, '')}/.well-known/jwks.json`), {
    cooldownDuration: options.jwksCooldownMs ?? 30_000
  })
  const clock = options.clock ?? systemClock
  const source = 'url' in feed ? openSseFeed({ ...feed, clock, maxLagMs, onError: options.onError, monotonic: options.monotonic }) : openRedisFeed({ ...feed, clock, maxLagMs, onError: options.onError, monotonic: options.monotonic })
  const known = new GenerationalCache<Known>(VERIFIED_CACHE_SIZE)
  const acceptedKinds = [...accepted].map((kind) => `${kind} tokens`).join(' and ')

  /** jose's claim check failed: which claim, what was expected and what the token says (none of it secret). */
  function claimMismatch({ claim, payload }: { claim: string; payload: JWTPayload }): string {
    if (claim === 'aud') return `the token is for ${JSON.stringify(payload.aud ?? null)}, not for ${audiences.map((name) => JSON.stringify(name)).join(' or ')}`
    if (claim === 'iss') return `the token was issued by ${JSON.stringify(payload.iss ?? null)}, not by ${JSON.stringify(issuer)}`
    return `the token's ${claim} claim is not valid`
  }

  const replays = new ProofReplayCache()
  const dpopProofMaxAge = options.dpopProofMaxAge ?? 60

  /** RFC 9449 §7: a bound token only with a proof by its key for this request, spent here; an unbound one only without. */
  async function proveBinding(token: string, claims: VerifiedClaims, dpop: DpopRequest | undefined): Promise<void> {
    const jkt = (claims.cnf as { jkt?: unknown } | undefined)?.jkt
    if (jkt === undefined) {
      if (dpop !== undefined) throw new VerificationError('DPOP_PROOF_INVALID', 'the token is not bound to a key: send it as Bearer')
      return
    }
    if (dpop === undefined) throw new VerificationError('DPOP_PROOF_INVALID', 'the token is bound to a key (DPoP): send Authorization: DPoP and a proof')
    if (dpop.proof === undefined) throw new VerificationError('DPOP_PROOF_INVALID', 'a DPoP proof is required (the DPoP header)')
    const now = clock.now()
    let proof: CheckedProof
    try {
      proof = await checkProofWithJose(dpop.proof, { method: dpop.method, url: dpop.url, accessToken: token, now, maxAgeSeconds: dpopProofMaxAge })
    } catch (error) {
      throw new VerificationError('DPOP_PROOF_INVALID', (error as Error).message)
    }
    if (proof.jkt !== jkt) throw new VerificationError('DPOP_PROOF_INVALID', 'the DPoP proof is signed by another key than the token is bound to')
    if (!replays.use(`${proof.jkt}:${proof.jti}`, proof.expiresAt, now)) throw new VerificationError('DPOP_PROOF_INVALID', 'the DPoP proof was used before')
  }

  async function signed(token: string): Promise<Known> {
    const cached = known.get(token)
    if (cached !== undefined) return cached
    let payload: JWTPayload
    let typ: unknown
    try {
      const verified = await jwtVerify(token, jwks, { issuer, audience: audiences as string[], algorithms: ALGORITHMS, requiredClaims: ['sub', 'jti', 'iat', 'exp'], currentDate: new Date(clock.now()) })
      payload = verified.payload
      typ = verified.protectedHeader.typ
    } catch (error) {
      const code = (error as { code?: unknown }).code
      if (code === 'ERR_JWT_EXPIRED') throw new VerificationError('TOKEN_EXPIRED', 'the token has expired')
      if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') throw new VerificationError('TOKEN_INVALID', claimMismatch(error as { claim: string; payload: JWTPayload }))
      if (code === 'ERR_JWKS_TIMEOUT' || typeof code !== 'string' || !code.startsWith('ERR_')) {
        throw new VerificationError('KEYS_UNAVAILABLE', 'the issuer\'s keys could not be fetched')
      }
      throw new VerificationError('TOKEN_INVALID', 'the token is not valid')
    }
    const typKind = tokenKindOf(typ)
    const kind = typKind === undefined ? undefined : tokenKind(typKind, payload)
    if (kind === undefined || !claimsFitKind(kind, payload)) throw new VerificationError('TOKEN_INVALID', 'the token is not one of the service\'s user, client or delegated tokens')
    if (!accepted.has(kind)) throw new VerificationError('TOKEN_INVALID', `the token is a ${kind} token; this service accepts ${acceptedKinds}`)
    const claims = Object.freeze({ ...payload, kind }) as VerifiedClaims
    const checks: RevocationCheck[] =
      kind === 'delegated'
        ? delegatedChecks(claims as unknown as DelegatedClaims)
        : [{ owner: kind === 'user' ? claims.sub : claims.client_id!, kind: kind === 'user' ? 'session' : 'client', claims }]
    const entry = Object.freeze({ claims, checks })
    known.set(token, entry)
    return entry
  }

  return {
    async verify(token, { scopes, dpop } = {}) {
      const { claims, checks } = await signed(token)
      const now = clock.now()
      if (sessionTtl !== undefined && claims.kind === 'user' && sessionEndMs(claims.auth_time!, sessionTtl) <= now) {
        throw new VerificationError('SESSION_EXPIRED', 'the token\'s session has ended')
      }
      if (claims.exp * 1000 <= now) throw new VerificationError('TOKEN_EXPIRED', 'the token has expired')
      const replica = source.replica()
      if (replica === undefined || source.lagMs() > maxLagMs) throw new VerificationError('FEED_STALE', 'the revocation feed is stale: the token cannot be checked')
      for (const check of checks) {
        const verdict = replica.verdict(check.claims, source.shardOf(check.owner), now)
        // Issued in a generation the replica has not seen yet (Redis lost its data a moment ago): it cannot tell.
        if (verdict === 'unknown') throw new VerificationError('FEED_STALE', 'the token is of a revocation feed generation not seen yet')
        if (verdict === 'revoked') throw new VerificationError('TOKEN_REVOKED', check === checks[0] ? 'the token has been revoked' : 'a token it was exchanged from has been revoked, or its session has ended')
      }
      // Last: a proof is spent only for a token that passed everything else.
      await proveBinding(token, claims, dpop)
      const missing = missingScopes(claims.scope, scopes ?? [])
      if (missing.length > 0) throw new VerificationError('INSUFFICIENT_SCOPE', `the token lacks the scope ${missing.join(' ')}`)
      return claims
    },
    lagMs: () => source.lagMs(),
    async ready(timeoutMs = 10_000) {
      const deadline = performance.now() + timeoutMs
      while (source.replica() === undefined || source.lagMs() > maxLagMs) {
        if (performance.now() > deadline) {
          const cause = source.lastError()
          throw new VerificationError('FEED_STALE', `the revocation feed was not fresh within ${timeoutMs} ms${cause === undefined ? '' : `: ${cause.message}`}`)
        }
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    },
    close: () => source.close()
  }
}
