import type { IncomingMessage, ServerResponse } from 'node:http'
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

/** Every answer carries helmet's default security headers (errors and 404s included), set once per request. */
export default fp(
  async function securityHeaders(fastify) {
    const headers = helmetHeaders()
    // A callback hook, not an async one: no promise per request on every path.
    fastify.addHook('onRequest', (_request, reply, done) => {
      reply.headers(headers)
      done()
    })
  },
  { name: 'security-headers' }
)
