import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ServiceError } from '../../errors.js'
import { authenticated } from '../../plugins/auth.js'
import { headNotAllowed } from '../../plugins/hardening.js'
import { bearerErrors, ErrorResponse } from '../../schemas/common.js'

const LogoutQuery = Type.Object({
  scope: Type.Union([Type.Literal('local'), Type.Literal('global'), Type.Literal('others')], {
    default: 'local',
    description: 'this session (default), every session of the user, or every other session'
  })
})

const logout: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.route({
    method: ['GET', 'POST'],
    url: '/api/logout',
    // HEAD must not log out: see headNotAllowed.
    exposeHeadRoute: false,
    schema: {
      tags: ['seed API'],
      summary: 'Revoke the token and its session (or every session, or every other one) at once',
      security: [{ bearer: [] }],
      querystring: LogoutQuery,
      response: { 200: Type.Object({ status: Type.Literal('success'), message: Type.Literal('logout') }), 400: ErrorResponse, ...bearerErrors }
    },
    // A token whose logout got 503 is admitted again, to finish it (a retry); `others` would not end it.
    preHandler: fastify.authenticateEnding,
    handler: async (request) => {
      const claims = authenticated(request)
      if (request.auth?.ending === true && request.query.scope === 'others') throw new ServiceError('TOKEN_REVOKED')
      await fastify.auth.sessions.end(claims, request.query.scope)
      fastify.securityEvent(request, 'session.logout', { user_id: claims.sub, session_id: claims.sid, scope: request.query.scope })
      return { status: 'success' as const, message: 'logout' as const }
    }
  })
  fastify.head('/api/logout', headNotAllowed)
}

export default logout
