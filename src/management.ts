import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { jsonBodies, serverOptions } from './app.js'
import errorHandler from './plugins/error-handler.js'
import admin, { readAdminToken } from './routes/admin/index.js'
import { addHeaderHook } from './plugins/security-headers.js'
import health from './routes/health.js'
import metricsRoute from './routes/metrics.js'

/** The operations routes, /metrics and the health probes: on the public app, or on the management listener. */
export async function operations(fastify: FastifyInstance): Promise<void> {
  await fastify.register(health)
  await fastify.register(metricsRoute)
}

/**
 * The management listener (MANAGEMENT_PORT): `app`'s operations routes on a port of their own, which
 * a NetworkPolicy or a firewall can open to the scraper and the kubelet only, since /metrics tells
 * about traffic and failures. The routes read the app's own decorators: the same registry, the same
 * stores, the same draining flag, so that readiness turns 503 here when the process drains.
 * With ADMIN_TOKEN_FILE, the admin API (routes/admin) answers here too, and nowhere else.
 * `options`: the process's server options (timeouts, request ids), as for the public listener.
 * `adminToken`: ADMIN_TOKEN_FILE's token, which server.ts reads before the stores open; read here otherwise
 * (ConfigError for a file that cannot be used).
 */
export async function managementServer(app: FastifyInstance, options: FastifyServerOptions = {}, adminToken = readAdminToken(app.config)): Promise<FastifyInstance> {
  const server: FastifyInstance = Fastify({
    // The app's parsing, validation and error bodies, as on the public port.
    ...serverOptions(app.config),
    ...options,
    // An email in the path, percent-encoded, may be three times its 255 characters.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
    loggerInstance: app.log.child({ listener: 'management' })
  })
  jsonBodies(server)
  server.decorate('config', app.config)
  server.decorate('metrics', app.metrics)
  server.decorate('auth', app.auth)
  server.decorate('lifecycle', app.lifecycle)
  addHeaderHook(server, app.securityHeaders.api)
  await server.register(errorHandler)
  await server.register(operations)
  if (adminToken !== undefined) await server.register(admin, { token: adminToken })
  await server.ready()
  return server
}
