import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ServiceError } from '../../errors.js'
import { authenticated } from '../../plugins/auth.js'
import { bearerErrors, ErrorResponse, User } from '../../schemas/common.js'

const VerifyBody = Type.Object(
  { token: Type.String({ minLength: 1, maxLength: 255, description: "The token of the mail's link (`?token=`)", examples: ['Vb6x0y9QHn0zq7E2a9hYfQm1sL4kP8rT3uW5cD7eF2g'] }) },
  { additionalProperties: false }
)

/** Email verification: a single-use link by mail at registration and on request (README, "Accounts"). */
const email: FastifyPluginAsyncTypebox = async (fastify) => {
  const { mailer, accountTokens, accounts } = fastify.auth

  fastify.post('/api/email/verify', {
    schema: {
      tags: ['accounts'],
      summary: "Confirm the account's email with the token of the verification mail",
      body: VerifyBody,
      response: { 200: Type.Object({ status: Type.Literal('success'), data: User }), 400: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse }
    },
    preHandler: fastify.limits.mailByAddress,
    handler: async (request) => {
      mailer.assertAvailable()
      const user = await accountTokens.verify(request.body.token)
      fastify.securityEvent(request, 'email.verified', { user_id: user.id })
      return { status: 'success' as const, data: user }
    }
  })

  fastify.post('/api/email/resend', {
    schema: {
      tags: ['accounts'],
      summary: 'Mail another verification link (none when the email is verified already)',
      security: [{ bearer: [] }],
      response: { 202: Type.Object({ status: Type.Literal('success') }), 429: ErrorResponse, ...bearerErrors }
    },
    preHandler: [fastify.authenticate, ...fastify.limits.mailByUser],
    handler: async (request, reply) => {
      mailer.assertAvailable()
      const user = await accounts.find(authenticated(request).sub)
      if (user === undefined) throw new ServiceError('TOKEN_INVALID', 'the token belongs to no user')
      if (user.email_verified_at === null) {
        await accountTokens.sendVerification(user)
        fastify.securityEvent(request, 'email.verification_sent', { user_id: user.id })
      }
      return reply.code(202).send({ status: 'success' as const })
    }
  })
}

export default email
