import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import errorHandler from './plugins/error-handler.js'
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
 * `options`: the process's server options (timeouts, request ids), as for the public listener.
 */
export async function managementServer(app: FastifyInstance, options: FastifyServerOptions = {}): Promise<FastifyInstance> {
  const server: FastifyInstance = Fastify({ ...options, loggerInstance: app.log.child({ listener: 'management' }) })
  server.decorate('metrics', app.metrics)
  server.decorate('auth', app.auth)
  server.decorate('lifecycle', app.lifecycle)
  addHeaderHook(server, app.securityHeaders.api)
  await server.register(errorHandler)
  await server.register(operations)
  await server.ready()
  return server
}
