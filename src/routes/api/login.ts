import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ServiceError } from '../../errors.js'
import { verifyPassword } from '../../passwords.js'
import { ErrorResponse, TokenResponse } from '../../schemas/common.js'
import { withoutPassword } from '../../stores/users/index.js'

const LoginBody = Type.Object(
  {
    email: Type.String({ minLength: 1, maxLength: 255 }),
    password: Type.String({ minLength: 1, maxLength: 255 })
  },
  { additionalProperties: false }
)

const login: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/api/login', {
    schema: {
      tags: ['seed API'],
      summary: 'Log in: starts a session and returns its first token',
      body: LoginBody,
      response: { 200: TokenResponse, 400: ErrorResponse, 401: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse }
    },
    preHandler: fastify.limits.login,
    handler: async (request) => {
      const { email, password } = request.body
      const user = await fastify.users.findByEmail(email)
      // Unknown email and wrong password: the same argon2 cost, the same answer.
      const passwordMatches = await verifyPassword(user?.password_hash, password)
      if (user === undefined || !passwordMatches) {
        fastify.securityEvent(request, 'login.failure', { user_id: user?.id })
        throw new ServiceError('INVALID_CREDENTIALS')
      }
      const { response, sid } = await fastify.sessions.login(withoutPassword(user), {
        userAgent: (request.headers['user-agent'] ?? '').slice(0, 255),
        ip: request.ip
      })
      fastify.securityEvent(request, 'login.success', { user_id: user.id, session_id: sid })
      return response
    }
  })
}

export default login
