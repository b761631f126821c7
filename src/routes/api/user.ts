import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ServiceError } from '../../errors.js'
import { bearerToken } from '../../plugins/auth.js'
import { bearerErrors, User } from '../../schemas/common.js'

const user: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/api/user', {
    schema: {
      tags: ['seed API'],
      summary: 'The user the token belongs to',
      security: [{ bearer: [] }],
      response: { 200: User, ...bearerErrors }
    },
    // fastify.authenticate, with the user's record read alongside the token's check: a cached record's
    // version rides the check's round trip (accounts.ts).
    handler: async (request) => {
      const token = bearerToken(request)
      const { claims, along: found } = await fastify.auth.verifier.verifyUserWith(token, (claims) => fastify.auth.accounts.find(claims.sub))
      request.auth = { token, claims, ending: false }
      if (found === undefined) throw new ServiceError('TOKEN_INVALID', 'the token belongs to no user')
      return found
    }
  })
}

export default user
