import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'

const Check = Type.Union([Type.Literal('ok'), Type.Literal('unavailable')])
const Readiness = Type.Object({
  status: Type.Union([Check, Type.Literal('draining')]),
  checks: Type.Object({ users: Check, clients: Check, revocations: Check })
})

const health: FastifyPluginAsyncTypebox = async (fastify) => {
  // Probes every few seconds from every kubelet and load balancer: not worth a log line each.
  fastify.get('/health/live', {
    logLevel: 'warn',
    schema: { tags: ['operations'], summary: 'The process runs (touches no store)', response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
    handler: async () => ({ status: 'ok' as const })
  })

  fastify.get('/health/ready', {
    logLevel: 'warn',
    schema: { tags: ['operations'], summary: 'Every store answers', response: { 200: Readiness, 503: Readiness } },
    handler: async (_request, reply) => {
      const checks = await fastify.auth.health()
      const ready = Object.values(checks).every((check) => check === 'ok')
      if (fastify.lifecycle.draining) {
        reply.code(503)
        return { status: 'draining' as const, checks }
      }
      if (!ready) reply.code(503).header('retry-after', '1')
      return { status: ready ? ('ok' as const) : ('unavailable' as const), checks }
    }
  })
}

export default health
