import fastifyJwt from '@fastify/jwt'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { openAuthWithFeeds, type Auth, type RevocationFeeds } from '../auth/index.js'
import type { Clock } from '../auth/clock.js'
import { userSignOptions, type SignPayload } from '../auth/token-issuer.js'
import { dpopRefusal } from '../auth/dpop.js'
import { ServiceError } from '../errors.js'
import { loadKeySet } from '../keys/key-set.js'
import type { RedisClient } from '../stores/redis-connection.js'
import type { UserClaims } from '../schemas/tokens.js'
import { dpopProofOf, presentedTokenOf, type PresentedToken } from '@jwt-auth-service/verifier/feed'

declare module 'fastify' {
  interface FastifyInstance {
    /** The domain core (src/auth): routes call these services, never a store. */
    auth: Auth
    /** The revocation feed (infrastructure, Redis only): the feed endpoint streams it. */
    revocationFeeds: RevocationFeeds
    /** The stores' Redis connection (undefined when embedded), which the rate limits share. */
    storeRedis: RedisClient | undefined
    /** preHandler for user routes: bearer token -> the verifier (signature, claims, revocation) -> request.auth. */
    authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void>
    /**
     * authenticate, for the routes that end the token's own session (logout, DELETE of its own
     * session): it also admits a token whose logout is written but not yet acknowledged, so that a
     * retry after a 503 can finish it (request.auth.ending); the route must do nothing else with it.
     */
    authenticateEnding(request: FastifyRequest, reply: FastifyReply): Promise<void>
    /**
     * A bound token (DPoP, `cnf.jkt`) needs `Authorization: DPoP` and a proof by its key for this request, whose
     * `jti` is then spent; an unbound one must come as Bearer. 401 DPOP_PROOF_INVALID with a DPoP challenge.
     * `original`: the request the proof is for, when it is not this one (a gateway's, at /auth/verify).
     */
    proveBinding(request: FastifyRequest, presented: PresentedToken, claims: { cnf?: { jkt: string } }, original?: OriginalRequest): Promise<void>
  }
  interface FastifyRequest {
    /** `ending`: admitted by authenticateEnding only; its own logout awaits acknowledgement. */
    auth: { token: string; claims: UserClaims; ending: boolean } | null
  }
}

export interface AuthPluginOptions {
  /** The clock of every time decision; the system clock unless a test sets one. */
  clock?: Clock
}

/**
 * The request's one Authorization header. It is not a list, so it may not repeat (RFC 9110 §5.3); Node
 * keeps only the first of two, while a proxy or a cache in front may have acted on the other: 400,
 * rather than guess.
 */
export function authorizationHeader(request: FastifyRequest): string | undefined {
  const raw = request.raw.rawHeaders
  let count = 0
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 13 && raw[i]!.toLowerCase() === 'authorization') count++
  }
  if (count > 1) throw new ServiceError('VALIDATION_FAILED', 'the Authorization header appears twice; send it once')
  return request.headers.authorization
}

/** The token of `Authorization: Bearer …` or `DPoP …`; 401 TOKEN_MISSING or TOKEN_INVALID otherwise. */
export function presentedToken(request: FastifyRequest): PresentedToken {
  const presented = presentedTokenOf(authorizationHeader(request))
  if (presented === undefined) throw new ServiceError('TOKEN_MISSING')
  if (presented === null) throw new ServiceError('TOKEN_INVALID', 'the Authorization header is not "Bearer <token>" or "DPoP <token>"')
  return presented
}

/** The request's one `DPoP` header (RFC 9449 §4.3 step 1: not two); undefined without one. */
export function dpopHeader(request: FastifyRequest): string | undefined {
  const proof = dpopProofOf(request.headers.dpop)
  if (proof === null) throw dpopRefusal('send one DPoP header')
  return proof
}

/** A request as the client made it: its method and absolute URL. */
export interface OriginalRequest {
  method: string
  url: string
}

/** The URL a proof's `htu` must name: the public one (ISSUER) with the request's path, without query (RFC 9449 §4.3). */
export function proofUrl(request: FastifyRequest, issuer: string): string {
  return `${issuer}${request.url.split('?')[0]}`
}

/** The claims `authenticate` put on the request; a route that reads them without that preHandler is a bug. */
export function authenticated(request: FastifyRequest): UserClaims {
  if (request.auth === null) throw new Error(`${request.routeOptions.url ?? 'this route'} reads the user before authenticate ran`)
  return request.auth.claims
}

/**
 * Builds the auth core over the stores the settings pick, decorates it once, and closes it with the app.
 *
 * @fastify/jwt signs user tokens. It is registered in a context of its own, so that its
 * `fastify.jwt.verify` and `request.jwtVerify`, which know nothing of revocation and would accept a
 * logged-out token, are reachable from no route: the verifier is the only way a token is accepted.
 */
export default fp<AuthPluginOptions>(
  async function auth(fastify, options) {
    const { config } = fastify
    const keys = loadKeySet(config)
    let signUserPayload: SignPayload | undefined
    await fastify.register(async function jwtSigner(context) {
      await context.register(fastifyJwt, {
        secret: { private: keys.signing.privateKey, public: keys.signing.publicKey },
        // The options the issuer's own signer uses; `iat` and `exp` are the caller's, from the clock.
        sign: userSignOptions(keys, config.ISSUER)
      })
      signUserPayload = (payload) => context.jwt.sign(payload)
    })

    const { auth: core, feeds, redis } = await openAuthWithFeeds(config, { log: fastify.log, keys, clock: options.clock, signUserPayload: (payload) => signUserPayload!(payload) })
    fastify.decorate('auth', core)
    fastify.decorate('revocationFeeds', feeds)
    // As a getter: decorate's value type does not take ioredis' Cluster in the union.
    fastify.decorate('storeRedis', { getter: () => redis })
    fastify.addHook('onClose', async () => core.close())
    fastify.decorateRequest('auth', null)
    const nonces = core.dpopNonces
    if (nonces !== undefined) {
      // RFC 9449 §8.2: every answer to a request with a proof gives the nonce to use next, so that a client keeps up
      // as nonces move on without a refusal first.
      fastify.addHook('onSend', async (request, reply) => {
        if (request.headers.dpop !== undefined && !reply.hasHeader('dpop-nonce')) reply.header('dpop-nonce', nonces.current())
      })
    }

    fastify.decorate('proveBinding', async function proveBinding(request: FastifyRequest, presented: PresentedToken, claims: { cnf?: { jkt: string } }, original?: OriginalRequest) {
      if (claims.cnf === undefined) {
        if (presented.scheme === 'dpop') throw dpopRefusal('the token is not bound to a key: send it as Bearer', 'invalid_token')
        return
      }
      // RFC 9449 §7.2: a bound token as Bearer would work for whoever stole it.
      if (presented.scheme !== 'dpop') throw dpopRefusal('the token is bound to a key: send Authorization: DPoP and a proof', 'invalid_token')
      const { method, url } = original ?? { method: request.method, url: proofUrl(request, config.ISSUER) }
      const jkt = await core.dpopProofs.check({ proof: dpopHeader(request), method, url, accessToken: presented.token })
      if (jkt !== claims.cnf.jkt) throw dpopRefusal('the DPoP proof is signed by another key than the token is bound to')
    })
    fastify.decorate('authenticate', async function authenticate(request: FastifyRequest) {
      const presented = presentedToken(request)
      const claims = await core.verifier.verifyUser(presented.token)
      await fastify.proveBinding(request, presented, claims)
      request.auth = { token: presented.token, claims, ending: false }
    })
    fastify.decorate('authenticateEnding', async function authenticateEnding(request: FastifyRequest) {
      const presented = presentedToken(request)
      const verified = await core.verifier.verifyUserOrEnding(presented.token)
      await fastify.proveBinding(request, presented, verified.claims)
      request.auth = { token: presented.token, ...verified }
    })
  },
  { name: 'auth', dependencies: ['config'] }
)
