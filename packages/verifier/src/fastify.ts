import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { DPOP_ADVERTISED_ALGORITHMS } from './dpop.js'
import { dpopProofOf, presentedTokenOf } from './token-profile.js'
import { createVerifier, VerificationError, type DpopRequest, type TokenVerifier, type VerifiedClaims, type VerifierOptions } from './verifier.js'

/**
 * @jwt-auth-service/verifier/fastify: the verifier as a Fastify plugin.
 *
 *   await app.register(jwtAuth, { issuer, audience, feed })
 *   app.get('/orders', { preHandler: app.requireToken({ scopes: ['orders:read'] }) }, (request) => request.tokenClaims)
 *
 * A refused token gets the service's error shape: 401 with `WWW-Authenticate: Bearer error="invalid_token"`,
 * 403 `insufficient_scope`, 503 with `Retry-After` while the revocation feed is stale (never a pass).
 */
export interface JwtAuthPluginOptions extends VerifierOptions {
  /**
   * Wait at registration until the revocation feed is fresh (ms; 0 not to wait). By default 8,000, and always
   * a second less than Fastify's pluginTimeout: the plugin's own error, naming the cause, comes first.
   */
  readyTimeoutMs?: number
}

const READY_TIMEOUT_MS = 8_000

declare module 'fastify' {
  interface FastifyInstance {
    tokenVerifier: TokenVerifier
    /** A preHandler that admits a request only with a valid bearer token (with `scopes`, each of them). */
    requireToken(options?: { scopes?: string[] }): (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
  interface FastifyRequest {
    /** The claims of the request's token, once `requireToken` admitted it. */
    tokenClaims: VerifiedClaims | null
  }
}

const REASON: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 503: 'Service Unavailable' }

function refuse(reply: FastifyReply, error: VerificationError, tokenPresented: boolean): FastifyReply {
  if (error.code === 'DPOP_PROOF_INVALID') reply.header('www-authenticate', `DPoP error="invalid_dpop_proof", algs="${DPOP_ADVERTISED_ALGORITHMS.join(' ')}"`)
  else if (error.statusCode === 401) reply.header('www-authenticate', tokenPresented ? 'Bearer error="invalid_token"' : 'Bearer')
  if (error.statusCode === 403) reply.header('www-authenticate', 'Bearer error="insufficient_scope"')
  if (error.statusCode === 503) reply.header('retry-after', '1')
  return reply.code(error.statusCode).send({ statusCode: error.statusCode, error: REASON[error.statusCode], code: error.code, message: error.message })
}

/**
 * The request's token: `Bearer <token>`, or `DPoP <token>` with the request's proof (none when it is sent twice),
 * method and URL (the URL as Fastify sees it: its protocol and host honour the app's trustProxy, for a service
 * behind a proxy). Undefined without an Authorization header, null for one that is neither.
 */
function presentedToken(request: FastifyRequest): { token: string; dpop?: DpopRequest } | undefined | null {
  const presented = presentedTokenOf(request.headers.authorization)
  if (presented === undefined || presented === null || presented.scheme === 'bearer') return presented && { token: presented.token }
  const dpop = { proof: dpopProofOf(request.headers.dpop) ?? undefined, method: request.method, url: `${request.protocol}://${request.host}${request.url}` }
  return { token: presented.token, dpop }
}

const jwtAuth: FastifyPluginAsync<JwtAuthPluginOptions> = async (fastify, options) => {
  const verifier = createVerifier(options)
  fastify.addHook('onClose', async () => verifier.close())
  const pluginTimeout = fastify.initialConfig.pluginTimeout ?? 10_000
  const readyTimeout = Math.min(options.readyTimeoutMs ?? READY_TIMEOUT_MS, pluginTimeout > 0 ? Math.max(pluginTimeout - 1_000, pluginTimeout / 2) : Number.POSITIVE_INFINITY)
  if (readyTimeout > 0) await verifier.ready(readyTimeout)
  fastify.decorate('tokenVerifier', verifier)
  fastify.decorateRequest('tokenClaims', null)
  fastify.decorate('requireToken', ({ scopes }: { scopes?: string[] } = {}) => {
    return async function requireToken(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      const presented = presentedToken(request)
      if (presented === undefined) return void refuse(reply, new VerificationError('TOKEN_INVALID', 'a bearer token is required'), false)
      if (presented === null) return void refuse(reply, new VerificationError('TOKEN_INVALID', 'the Authorization header is not "Bearer <token>" or "DPoP <token>"'), true)
      try {
        request.tokenClaims = await verifier.verify(presented.token, { scopes, dpop: presented.dpop })
      } catch (error) {
        if (!(error instanceof VerificationError)) throw error
        return void refuse(reply, error, true)
      }
    }
  })
}

export default fp(jwtAuth, { name: 'jwt-auth-service', fastify: '5.x' })
export { createVerifier, VerificationError, type TokenVerifier, type VerifiedClaims, type VerifierOptions }
