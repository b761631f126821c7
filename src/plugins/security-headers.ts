import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

/**
 * Helmet's headers, computed once. Helmet's middleware rebuilds its Content-Security-Policy and its list of
 * middlewares on every request: 16% of `/health/live`'s busy time in a `--cpu-prof` profile of `npm run bench`, for a set of
 * headers that never changes. Its defaults stay the single source: we run it once against a recording response.
 */
export function helmetHeaders(options?: Readonly<HelmetOptions>): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {}
  const recorder = {
    setHeader(name: string, value: unknown) {
      headers[name.toLowerCase()] = String(value)
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()]
    }
  }
  let failure: unknown
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (error?: unknown) => {
    failure = error
  })
  if (failure !== undefined) throw failure
  return Object.freeze(headers)
}

export interface HeaderSets {
  /** Answers read by programs (JSON, forward auth, metrics, JWKS, discovery): nothing to render, frame or sniff. */
  api: Readonly<Record<string, string>>
  /** The one page, /docs (and its assets): helmet's defaults. */
  page: Readonly<Record<string, string>>
}

/**
 * `hstsMaxAge` (HSTS_MAX_AGE, seconds): Strict-Transport-Security on every answer when set (RFC 6797), without
 * includeSubDomains, which is the domain owner's call; none when unset, as TLS usually ends at the gateway.
 */
export function headerSets(hstsMaxAge?: number): HeaderSets {
  const hsts: Record<string, string> = hstsMaxAge === undefined ? {} : { 'strict-transport-security': `max-age=${hstsMaxAge}` }
  return {
    api: Object.freeze({
      'x-content-type-options': 'nosniff',
      // Nothing an answer could load, and no page may frame it.
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
      'referrer-policy': 'no-referrer',
      ...hsts
    }),
    page: helmetHeaders({ strictTransportSecurity: hstsMaxAge === undefined ? false : { maxAge: hstsMaxAge, includeSubDomains: false } })
  }
}

/** Sets `headers` on every answer of `scope` (errors and 404s included); a callback hook: no promise per request. */
export function addHeaderHook(scope: FastifyInstance, headers: Readonly<Record<string, string>>): void {
  scope.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers)
    done()
  })
}

declare module 'fastify' {
  interface FastifyInstance {
    securityHeaders: HeaderSets
  }
}

/** Every answer carries the API set; the docs plugin sets the page set in its own scope (plugins/openapi.ts). */
export default fp(
  async function securityHeaders(fastify) {
    const sets = headerSets(fastify.config.HSTS_MAX_AGE)
    fastify.decorate('securityHeaders', sets)
    addHeaderHook(fastify, sets.api)
  },
  { name: 'security-headers', dependencies: ['config'] }
)
