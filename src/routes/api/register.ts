import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { assertConfirmed } from '../../auth/passwords.js'
import { ErrorResponse, User } from '../../schemas/common.js'

const RegisterBody = Type.Object(
  {
    // Something visible, and no NUL (which no database stores as text).
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '^(?=[^]*\\S)[^\\u0000]*$' }),
    email: Type.String({ format: 'email', maxLength: 255, pattern: '^[^\\u0000]*$' }),
    password: Type.String({ minLength: 8, maxLength: 255 }),
    password_confirmation: Type.String({ maxLength: 255 })
  },
  { additionalProperties: false }
)

const register: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/api/register', {
    schema: {
      tags: ['seed API'],
      summary: 'Create an account',
      body: RegisterBody,
      response: { 201: Type.Object({ status: Type.Literal('success'), data: User }), 400: ErrorResponse, 409: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse }
    },
    preHandler: fastify.limits.register,
    handler: async (request, reply) => {
      const { name, email, password, password_confirmation } = request.body
      assertConfirmed(password, password_confirmation)
      const user = await fastify.auth.accounts.register({ name, email, password })
      return reply.code(201).send({ status: 'success' as const, data: user })
    }
  })
}

export default register
