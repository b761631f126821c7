import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ServiceError } from '../../errors.js'
import { bearerErrors, ErrorResponse } from '../../schemas/common.js'

const Session = Type.Object({
  id: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  last_refreshed_at: Type.String({ format: 'date-time' }),
  user_agent: Type.String(),
  ip: Type.String(),
  current: Type.Boolean({ description: 'the session of the token that asks' })
})

const sessions: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/api/sessions', {
    schema: {
      tags: ['sessions'],
      summary: "The user's live sessions",
      security: [{ bearer: [] }],
      response: { 200: Type.Object({ sessions: Type.Array(Session) }), ...bearerErrors }
    },
    preHandler: fastify.authenticate,
    handler: async (request) => {
      const { sub, sid } = request.auth!.claims
      const live = await fastify.revocations.listSessions(sub)
      return {
        sessions: live.map((session) => ({
          id: session.sid,
          created_at: new Date(session.createdAt).toISOString(),
          last_refreshed_at: new Date(session.lastRefreshedAt).toISOString(),
          user_agent: session.userAgent,
          ip: session.ip,
          current: session.sid === sid
        }))
      }
    }
  })

  fastify.delete('/api/sessions/:id', {
    schema: {
      tags: ['sessions'],
      summary: 'Revoke one session of the user, at once',
      security: [{ bearer: [] }],
      params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
      response: { 204: Type.Null(), 400: ErrorResponse, 404: ErrorResponse, ...bearerErrors }
    },
    preHandler: fastify.authenticate,
    handler: async (request, reply) => {
      // Scoped to the token's user: another user's session id is simply not found.
      const { sub } = request.auth!.claims
      const ended = await fastify.revocations.endSessions(sub, { only: request.params.id })
      if (ended === 0) throw new ServiceError('NOT_FOUND', 'no such session')
      fastify.securityEvent(request, 'session.revoked', { user_id: sub, session_id: request.params.id })
      return reply.code(204).send(null)
    }
  })
}

export default sessions
