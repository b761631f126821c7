import fastifyCors, { type FastifyCorsOptions } from '@fastify/cors'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

/**
 * The paths a browser page may call: the API, the keys and the discovery document. /oauth/* and
 * /auth/verify are server-to-server (clients with secrets, gateways): a page has no business there.
 */
function browserFacing(request: FastifyRequest): boolean {
  const path = request.url.split('?', 1)[0]!
  return path.startsWith('/api/') || path === '/.well-known/jwks.json' || path === '/.well-known/oauth-authorization-server'
}

/**
 * CORS for the origins of CORS_ORIGINS, exactly (app.ts registers this only when there are some, so
 * that without them no request pays for it). Tokens travel in `Authorization`, never in cookies, so
 * no credentials mode: a page must hold the token to use it. Another origin, or another path, gets
 * no CORS header at all, and its preflight a 404.
 */
export default fp(
  async function cors(fastify) {
    const allowed = new Set(fastify.config.CORS_ORIGINS)
    const options: FastifyCorsOptions = {
      origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin) ? origin : false),
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'],
      // DPoP: a page that holds a key sends its proofs (RFC 9449 §4.1).
      allowedHeaders: ['Authorization', 'Content-Type', 'DPoP'],
      // A page reads why it was refused (the challenge), when to retry, and the DPoP nonce to use.
      exposedHeaders: ['WWW-Authenticate', 'Retry-After', 'DPoP-Nonce'],
      credentials: false,
      maxAge: 600
    }
    const off: FastifyCorsOptions = { origin: false }
    await fastify.register(fastifyCors, {
      delegator: (request, callback) => callback(null, browserFacing(request) ? options : off)
    })
  },
  { name: 'cors', dependencies: ['config'] }
)
