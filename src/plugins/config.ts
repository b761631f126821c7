import fp from 'fastify-plugin'
import type { Config } from '../config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

/** Makes the configuration, validated at boot by loadConfig(), available to every plugin and route. */
export default fp<{ config: Config }>(
  async function config(fastify, options) {
    fastify.decorate('config', options.config)
  },
  { name: 'config' }
)
