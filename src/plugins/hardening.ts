import type { FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { ServiceError } from '../errors.js'

/**
 * Routes whose answers carry a token or personal data: no cache may keep them (RFC 6749 §5.1 asks
 * for `Cache-Control: no-store` and, for HTTP/1.0 caches, `Pragma: no-cache`). Keyed on the route's
 * URL here, in one place, so that no route can forget it; their error answers get it too, harmlessly.
 */
const NO_STORE = new Set(['/api/register', '/api/login', '/api/refresh', '/api/user', '/api/sessions', '/api/email/verify'])

const NO_STORE_HEADERS = { 'cache-control': 'no-store', pragma: 'no-cache' }

export default fp(
  async function hardening(fastify) {
    // Decided once per route as routes are added (every route comes after this plugin: app.ts), not per request.
    const noStore: onRequestHookHandler = (_request, reply, done) => {
      reply.headers(NO_STORE_HEADERS)
      done()
    }
    fastify.addHook('onRoute', (route) => {
      if (NO_STORE.has(route.url)) route.onRequest = [...[route.onRequest ?? []].flat(), noStore]
    })
  },
  { name: 'hardening' }
)

/**
 * The HEAD route of a GET route that changes state (the seed's GET /api/refresh and /api/logout).
 * Fastify answers HEAD with the GET handler, but HEAD is safe (RFC 9110 §9.2.1): a link checker or a
 * prefetching proxy must not rotate or revoke a token. Such a route sets `exposeHeadRoute: false`
 * and registers this: 405 with `Allow` (RFC 9110 §15.5.6), and nothing runs.
 */
export const headNotAllowed = {
  schema: { hide: true },
  handler: async (): Promise<never> => {
    throw new ServiceError('METHOD_NOT_ALLOWED', 'HEAD is not allowed here: it would change state', { allow: 'GET, POST' })
  }
}

/**
 * A preValidation hook that puts these body fields in Unicode NFC before anything else reads them
 * (NIST SP 800-63B §5.1.1.2): the same password typed as precomposed "é" or as "e" + U+0301 hashes
 * and compares alike, and lengths and patterns are checked on what is stored.
 */
export function normalizeToNfc(...fields: string[]) {
  return async function nfc(request: FastifyRequest): Promise<void> {
    const body = request.body
    if (typeof body !== 'object' || body === null) return
    for (const field of fields) {
      const value: unknown = Object.hasOwn(body, field) ? (body as Record<string, unknown>)[field] : undefined
      if (typeof value === 'string') (body as Record<string, unknown>)[field] = value.normalize('NFC')
    }
  }
}
