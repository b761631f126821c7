import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { assertConfirmed } from '../../auth/passwords.js'
import { normalizeToNfc } from '../../plugins/hardening.js'
import { ErrorResponse, User } from '../../schemas/common.js'
import { afterAnswer } from './after-answer.js'

/**
 * Something visible (not only blanks or zero-width characters), and nothing that can forge a log line,
 * colour a terminal or reorder the text around the name where it is shown: no control characters (C0
 * with NUL, CR, LF and ESC; DEL; C1), no line or paragraph separators, no bidi embeddings, overrides or
 * isolates (Unicode TR #36 §2.1, "Trojan Source" CVE-2021-42574). Zero-width joiners stay allowed inside
 * visible text: emoji sequences and Indic scripts need them.
 */
const NAME_PATTERN =
  '^(?=[^]*[^\\s\\u200b-\\u200d\\u2060\\ufeff])[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]*$'

const RegisterBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: NAME_PATTERN, examples: ['Ada Lovelace'] }),
    email: Type.String({ format: 'email', maxLength: 255, pattern: '^[^\\u0000]*$', examples: ['ada@example.com'] }),
    password: Type.String({ minLength: 8, maxLength: 255, examples: ['correct horse battery staple'] }),
    password_confirmation: Type.String({ maxLength: 255, examples: ['correct horse battery staple'] })
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
    // NFC first: the name is checked and stored, the password hashed, in one form.
    preValidation: normalizeToNfc('name', 'password', 'password_confirmation'),
    preHandler: fastify.limits.register,
    handler: async (request, reply) => {
      const { name, email, password, password_confirmation } = request.body
      assertConfirmed(password, password_confirmation)
      const user = await fastify.auth.accounts.register({ name, email, password })
      const { mailer, accountTokens } = fastify.auth
      // The verification mail, once the answer is written (in development without SMTP_URL, to the log).
      if (mailer.mode !== 'off') {
        const sent = async () => {
          await accountTokens.sendVerification(user)
          fastify.securityEvent(request, 'email.verification_sent', { user_id: user.id })
        }
        afterAnswer(request, 'verification mail', sent, { user_id: user.id })
      }
      return reply.code(201).send({ status: 'success' as const, data: user })
    }
  })
}

export default register
