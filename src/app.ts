import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import type { Clock } from './auth/clock.js'
import type { Config } from './config.js'
import { trustFunction } from './settings/network.js'
import auth from './plugins/auth.js'
import configPlugin from './plugins/config.js'
import cors from './plugins/cors.js'
import lifecycle from './plugins/lifecycle.js'
import errorHandler, { clientErrorHandler, frameworkErrors } from './plugins/error-handler.js'
import hardening from './plugins/hardening.js'
import metrics from './plugins/metrics.js'
import openapi from './plugins/openapi.js'
import securityEvents from './plugins/security-events.js'
import securityHeaders from './plugins/security-headers.js'
import rateLimit from './plugins/rate-limit/index.js'
import api from './routes/api/index.js'
import authVerify from './routes/auth-verify.js'
import { operations } from './management.js'
import oauth from './routes/oauth/index.js'
import jwks from './routes/well-known/jwks.js'
import metadata from './routes/well-known/metadata.js'

export interface AppOptions {
  config: Config
  /** The clock of every time decision; tests pass a settable one. The system clock otherwise. */
  clock?: Clock
}

/** A body over 16 KiB gets 413 (README, "API"). */
export const BODY_LIMIT = 16 * 1024

/** The Fastify server options that belong to the app rather than to the process (the logger is the process's). */
export function serverOptions(config: Config): FastifyServerOptions {
  const { TRUST_PROXY } = config
  return {
    bodyLimit: BODY_LIMIT,
    // A hop count N trusts the N nearest hops: the client is the address the outermost trusted proxy saw,
    // counted from the right of X-Forwarded-For, whatever a client wrote on its left. Fastify 5 alone
    // trusts nobody for a number (a client that can reach the service directly could claim to be a proxy),
    // so it is given as the function proxy-addr would have built: for a service reachable only through its proxies.
    trustProxy: typeof TRUST_PROXY === 'number' ? trustFunction(TRUST_PROXY) : TRUST_PROXY,
    // Request ids come from our generator, never from a client header.
    requestIdHeader: false,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    ajv: { customOptions: { removeAdditional: true, coerceTypes: false, allErrors: false } },
    // Errors that Node's HTTP layer and Fastify's router answer before the error handler: the contract's body too.
    clientErrorHandler,
    frameworkErrors
  }
}

/**
 * JSON in and out: any other media type is 415, not a string that fails validation. Requests that carry no
 * body (GET and POST /api/refresh and /api/logout, an admin rotate-secret) may still say
 * `Content-Type: application/json` with an empty body, and must not get a 400 for it.
 */
export function jsonBodies(fastify: FastifyInstance): void {
  fastify.removeContentTypeParser('text/plain')
  const parseJson = fastify.getDefaultJsonParser('error', 'error')
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined)
    parseJson(request, body as string, done)
  })
}

/** The whole service as a Fastify plugin: plugins first, then routes. server.ts and the tests register it. */
export default async function app(fastify: FastifyInstance, options: AppOptions): Promise<void> {
  jsonBodies(fastify)
  const { config } = options
  await fastify.register(configPlugin, { config })
  await fastify.register(lifecycle)
  await fastify.register(securityHeaders)
  // Not registered at all without origins: its hook would run on every request for nothing.
  if (config.CORS_ORIGINS.length > 0) await fastify.register(cors)
  await fastify.register(hardening)
  await fastify.register(metrics)
  await fastify.register(securityEvents)
  await fastify.register(errorHandler)
  if (config.DOCS) await fastify.register(openapi)
  await fastify.register(auth, { clock: options.clock })
  await fastify.register(rateLimit)

  // With MANAGEMENT_PORT, these answer on the management listener (management.ts) and not here.
  if (config.MANAGEMENT_PORT === undefined) await fastify.register(operations)
  await fastify.register(jwks)
  await fastify.register(metadata)
  await fastify.register(api)
  await fastify.register(oauth)
  await fastify.register(authVerify)
}
