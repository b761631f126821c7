import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import app, { serverOptions } from './app.js'
import { ConfigError, loadConfig, loadDotEnv } from './config.js'
import { loggerOptions } from './logger.js'
import { MigrationError } from './stores/migrations/index.js'

/** The process: read the settings, build the app, listen, and close gracefully on a signal. */
async function main(): Promise<void> {
  loadDotEnv()
  const config = loadConfig()
  const fastify = Fastify({
    ...serverOptions(config),
    ...loggerOptions(config),
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 72_000
  })
  // fp(): the process reaches the app's lifecycle decorator.
  await fastify.register(fp(app), { config })

  // On SIGTERM: readiness turns 503 first, so that the load balancer stops sending; after the drain,
  // stop accepting, finish what is in flight, close the stores, exit 0. A second signal or the
  // bound ends it at once.
  const drainMs = config.SHUTDOWN_DRAIN_SECONDS * 1000
  closeWithGrace({ delay: drainMs + 10_000 }, async ({ signal, err }) => {
    if (err !== undefined) fastify.log.error({ err }, 'closing after an error')
    else fastify.log.info({ signal, drainMs }, 'draining, then closing')
    fastify.lifecycle.draining = true
    if (err === undefined) await new Promise((resolve) => setTimeout(resolve, drainMs))
    await fastify.close()
  })

  await fastify.listen({ port: config.PORT, host: config.HOST })
}

main().catch((error: unknown) => {
  // A bad setting, or a database this release cannot use (an IncompatibleSchemaError names the
  // table and the setting), stops the process with a message that says so, and nothing else.
  if (error instanceof ConfigError || error instanceof MigrationError) console.error(`jwt-auth-service: ${error.message}`)
  else console.error(error)
  process.exit(1)
})
