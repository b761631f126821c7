import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import app, { serverOptions } from './app.js'
import { ConfigError, loadConfig, loadDotEnv } from './config.js'

/** The process: read the settings, build the app, listen, and close gracefully on a signal. */
async function main(): Promise<void> {
  loadDotEnv()
  const config = loadConfig()
  const fastify = Fastify({
    ...serverOptions(config),
    logger: {
      level: config.LOG_LEVEL,
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' }
    },
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 72_000
  })
  await fastify.register(app, { config })

  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err !== undefined) fastify.log.error({ err }, 'closing after an error')
    else fastify.log.info({ signal }, 'closing')
    await fastify.close()
  })

  await fastify.listen({ port: config.PORT, host: config.HOST })
}

main().catch((error: unknown) => {
  // A bad setting stops the process with a message that names it, and nothing else.
  if (error instanceof ConfigError) console.error(`jwt-auth-service: ${error.message}`)
  else console.error(error)
  process.exit(1)
})
