import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { assertConfirmed } from '../../auth/passwords.js'
import { normalizeToNfc } from '../../plugins/hardening.js'
import { ErrorResponse } from '../../schemas/common.js'
import { afterAnswer } from './after-answer.js'

const ForgotBody = Type.Object(
  { email: Type.String({ minLength: 1, maxLength: 255, pattern: '^[^\\u0000]*$', examples: ['ada@example.com'] }) },
  { additionalProperties: false }
)

const ResetBody = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 255, description: "The token of the mail's link (`?token=`)", examples: ['3q2-7wXYmH0Oa0cJmXr1yQbq2Jq1vZ8nS0m3k9Tt9Zc'] }),
    // The rules of registration.
    password: Type.String({ minLength: 8, maxLength: 255, examples: ['a new and longer passphrase'] }),
    password_confirmation: Type.String({ maxLength: 255, examples: ['a new and longer passphrase'] })
  },
  { additionalProperties: false }
)

const Accepted = Type.Object({ status: Type.Literal('success') }, { examples: [{ status: 'success' }] })

/** A forgotten password: a single-use link by mail, then a new password that ends every session (README, "Accounts"). */
const passwordReset: FastifyPluginAsyncTypebox = async (fastify) => {
  const { mailer, accountTokens } = fastify.auth

  fastify.post('/api/password/forgot', {
    schema: {
      tags: ['accounts'],
      summary: 'Mail a password reset link: 202 for every address, known or not',
      body: ForgotBody,
      response: { 202: Accepted, 400: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse }
    },
    preHandler: [...fastify.limits.mailByAddress, ...fastify.limits.mailByEmail],
    handler: async (request, reply) => {
      mailer.assertAvailable()
      const { email } = request.body
      // After the answer is written: it is the same, and as quick, for an address that has an account and one that has none.
      afterAnswer(request, 'password reset mail', async () => {
        if ((await accountTokens.requestReset(email)) === 'mailed') fastify.securityEvent(request, 'password.reset_requested')
      })
      return reply.code(202).send({ status: 'success' as const })
    }
  })

  fastify.post('/api/password/reset', {
    schema: {
      tags: ['accounts'],
      summary: "Set a new password with the mail's token; every session of the account ends",
      body: ResetBody,
      response: { 200: Type.Object({ status: Type.Literal('success'), message: Type.String() }), 400: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse }
    },
    preValidation: normalizeToNfc('password', 'password_confirmation'),
    // Every guess costs an attempt from this address; the token's 256 bits do the rest.
    preHandler: fastify.limits.mailByAddress,
    handler: async (request) => {
      mailer.assertAvailable()
      const { token, password, password_confirmation } = request.body
      assertConfirmed(password, password_confirmation)
      const userId = await accountTokens.reset(token, password)
      fastify.securityEvent(request, 'password.reset', { user_id: userId })
      return { status: 'success' as const, message: 'password reset; every session of the account has ended' }
    }
  })
}

export default passwordReset
