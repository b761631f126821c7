import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { bearerErrors } from '../../schemas/common.js'

const logout: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.route({
    method: ['GET', 'POST'],
    url: '/api/logout',
    schema: {
      tags: ['seed API'],
      summary: 'Revoke the token and its session at once',
      security: [{ bearer: [] }],
      response: { 200: Type.Object({ status: Type.Literal('success'), message: Type.Literal('logout') }), ...bearerErrors }
    },
    preHandler: fastify.authenticate,
    handler: async (request) => {
      await fastify.sessions.logout(request.auth!.claims)
      return { status: 'success' as const, message: 'logout' as const }
    }
  })
}

export default logout
