import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ServiceError } from '../../errors.js'
import { toIso } from '../../auth/clock.js'
import { authenticated } from '../../plugins/auth.js'
import { bearerErrors, ErrorResponse } from '../../schemas/common.js'
import { SessionList, SessionsQuery } from '../../schemas/sessions.js'

const sessions: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/api/sessions', {
    schema: {
      tags: ['sessions'],
      summary: "The user's live sessions, oldest first, a page at a time",
      description: 'Ordered by created_at, then id. Pass `next_cursor` as `cursor` for the next page; it is null on the last page.',
      security: [{ bearer: [] }],
      querystring: SessionsQuery,
      response: { 200: SessionList, 400: ErrorResponse, ...bearerErrors }
    },
    preHandler: fastify.authenticate,
    handler: async (request) => {
      const { sub, sid } = authenticated(request)
      const { limit, cursor } = request.query
      const page = await fastify.auth.sessions.list(sub, { limit: limit === undefined ? undefined : Number(limit), cursor })
      return {
        next_cursor: page.next_cursor,
        sessions: page.sessions.map((session) => ({
          id: session.sid,
          created_at: toIso(session.created_at),
          last_refreshed_at: toIso(session.last_refreshed_at),
          user_agent: session.user_agent,
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
    // A token whose own session's end got 503 is admitted again, to end that session (a retry), nothing else.
    preHandler: fastify.authenticateEnding,
    handler: async (request, reply) => {
      // Scoped to the token's user: another user's session id is simply not found.
      const claims = authenticated(request)
      const { sub } = claims
      if (request.auth?.ending === true && request.params.id !== claims.sid) throw new ServiceError('TOKEN_REVOKED')
      if (!(await fastify.auth.sessions.endOne(sub, request.params.id, claims))) throw new ServiceError('NOT_FOUND', 'no such session')
      fastify.securityEvent(request, 'session.revoked', { user_id: sub, session_id: request.params.id })
      return reply.code(204).send(null)
    }
  })
}

export default sessions
