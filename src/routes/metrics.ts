import type { FastifyPluginAsync } from 'fastify'

/** Prometheus text format. Expose it to the scraper only (the k8s NetworkPolicy does). */
const metrics: FastifyPluginAsync = async (fastify) => {
  fastify.get('/metrics', { logLevel: 'warn', schema: { tags: ['operations'], summary: 'Prometheus metrics', produces: ['text/plain'] } }, async (_request, reply) => {
    reply.header('content-type', fastify.metrics.registry.contentType)
    return fastify.metrics.registry.metrics()
  })
}

export default metrics
