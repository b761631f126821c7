import { realpathSync } from 'node:fs'
import type { Server } from 'node:http'
import closeWithGrace from 'close-with-grace'
import Fastify, { type FastifyHttpOptions, type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import app, { serverOptions } from './app.js'
import { ConfigError, loadConfig, loadDotEnv } from './config.js'
import { loggerOptions } from './logger.js'
import { managementServer } from './management.js'
import { readAdminToken } from './routes/admin/index.js'
import { startupSummary } from './startup.js'
import { MigrationError } from './stores/migrations/index.js'

/**
 * The process's HTTP timeouts, given the longest time a client may take to send one whole request.
 * Node checks `requestTimeout` (and `headersTimeout`) only every `connectionsCheckingInterval`, 30 s by
 * default, so a slow body used to be held for a minute and more; checked every second (or more often
 * for a short bound), a request not complete in time gets 408 REQUEST_TIMEOUT within that second. The
 * socket's idle timeout is longer, so that a stalled request gets that 408 rather than a silent close.
 * Keep-alive outlasts the usual load balancer idle timeout (60 s), so the balancer closes first.
 */
export function httpTimeouts(requestTimeout = 30_000): FastifyHttpOptions<Server> {
  return {
    requestTimeout,
    connectionTimeout: 2 * requestTimeout,
    keepAliveTimeout: 72_000,
    http: { requestTimeout, headersTimeout: requestTimeout, connectionsCheckingInterval: Math.min(1000, Math.ceil(requestTimeout / 4)) }
  }
}

/** listen(), with a port that cannot be had reported as the setting that named it, in one line. */
async function listenOn(server: FastifyInstance, setting: string, port: number, host: string): Promise<void> {
  try {
    await server.listen({ port, host })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') throw new ConfigError(`${setting}=${port} on HOST=${host}: cannot listen (${code})`)
    throw error
  }
}

/** The process: read the settings, build the app, listen, and close gracefully on a signal. */
async function main(): Promise<void> {
  loadDotEnv()
  const config = loadConfig()
  // Before any store opens: a token file that cannot be used stops the boot at once.
  const adminToken = readAdminToken(config)
  const fastify = Fastify({
    ...serverOptions(config),
    ...loggerOptions(config),
    ...httpTimeouts()
  })
  // fp(): the process reaches the app's lifecycle decorator.
  await fastify.register(fp(app), { config })
  await fastify.ready()
  const management = config.MANAGEMENT_PORT === undefined ? undefined : await managementServer(fastify, { ...httpTimeouts(), genReqId: loggerOptions(config).genReqId }, adminToken)

  // On SIGTERM: readiness turns 503 first, so that the load balancer stops sending; after the drain,
  // stop accepting, finish what is in flight, close the stores, exit 0. A second signal or the
  // bound ends it at once. The management listener goes first: its probes read the stores.
  const drainMs = config.SHUTDOWN_DRAIN_SECONDS * 1000
  closeWithGrace({ delay: drainMs + 10_000 }, async ({ signal, err }) => {
    if (err !== undefined) fastify.log.error({ err }, 'closing after an error')
    else fastify.log.info({ signal, drainMs }, 'draining, then closing')
    fastify.lifecycle.draining = true
    if (err === undefined) await new Promise((resolve) => setTimeout(resolve, drainMs))
    await management?.close()
    await fastify.close()
  })

  await listenOn(fastify, 'PORT', config.PORT, config.HOST)
  if (management !== undefined) await listenOn(management, 'MANAGEMENT_PORT', config.MANAGEMENT_PORT!, config.HOST)
  fastify.log.info(startupSummary(config, fastify, management), 'jwt-auth-service started')
}

/** Whether this module is the process's entry point (node dist/src/server.js), not imported by a test. */
function isEntryPoint(): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === import.meta.filename
  } catch {
    return false
  }
}

if (isEntryPoint()) {
  main().catch((error: unknown) => {
    // A bad setting, or a database this release cannot use (an IncompatibleSchemaError names the
    // table and the setting), stops the process with a message that says so, and nothing else.
    if (error instanceof ConfigError || error instanceof MigrationError) console.error(`jwt-auth-service: ${error.message}`)
    else console.error(error)
    process.exit(1)
  })
}
