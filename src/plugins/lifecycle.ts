import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** `draining` is set by the process on SIGTERM: readiness turns 503 while in-flight work finishes. */
    lifecycle: { draining: boolean }
  }
}

export default fp(
  async function lifecycle(fastify) {
    fastify.decorate('lifecycle', { draining: false })
  },
  { name: 'lifecycle' }
)
