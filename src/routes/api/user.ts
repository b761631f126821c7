import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ServiceError } from '../../errors.js'
import { authenticated } from '../../plugins/auth.js'
import { bearerErrors, User } from '../../schemas/common.js'

const user: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/api/user', {
    schema: {
      tags: ['seed API'],
      summary: 'The user the token belongs to',
      security: [{ bearer: [] }],
      response: { 200: User, ...bearerErrors }
    },
    preHandler: fastify.authenticate,
    handler: async (request) => {
      const found = await fastify.auth.accounts.find(authenticated(request).sub)
      if (found === undefined) throw new ServiceError('TOKEN_INVALID', 'the token belongs to no user')
      return found
    }
  })
}

export default user
