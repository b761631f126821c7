import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ServiceError } from '../../errors.js'
import { dpopHeader, proofUrl } from '../../plugins/auth.js'
import { normalizeToNfc } from '../../plugins/hardening.js'
import { ErrorResponse, TokenResponse } from '../../schemas/common.js'

const LoginBody = Type.Object(
  {
    email: Type.String({ minLength: 1, maxLength: 255, examples: ['ada@example.com'] }),
    password: Type.String({ minLength: 1, maxLength: 255, examples: ['correct horse battery staple'] })
  },
  { additionalProperties: false }
)

const login: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/api/login', {
    schema: {
      tags: ['seed API'],
      summary: 'Log in: starts a session and returns its first token',
      body: LoginBody,
      response: { 200: TokenResponse, 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse }
    },
    preValidation: normalizeToNfc('password'),
    preHandler: fastify.limits.login,
    onSend: fastify.limits.loginAnswered,
    handler: async (request) => {
      const { email, password } = request.body
      // RFC 9449 §5: with a DPoP proof, the session's tokens are bound to its key; DPOP_REQUIRED refuses a login without one.
      const proof = dpopHeader(request)
      const binding = proof !== undefined || fastify.config.DPOP_REQUIRED
        ? { jkt: await fastify.auth.dpopProofs.check({ proof, method: request.method, url: proofUrl(request, fastify.config.ISSUER) }) }
        : undefined
      const result = await fastify.auth.sessions.login(email, password, { user_agent: request.headers['user-agent'] ?? '', ip: request.ip }, binding)
      if (result.outcome === 'invalid') {
        fastify.securityEvent(request, 'login.failure', { user_id: result.user_id })
        throw new ServiceError('INVALID_CREDENTIALS')
      }
      if (result.outcome === 'refused') {
        fastify.securityEvent(request, 'login.refused', { user_id: result.user_id, reason: result.code })
        throw new ServiceError(result.code)
      }
      fastify.securityEvent(request, 'login.success', { user_id: result.user_id, session_id: result.sid })
      // MAX_SESSIONS_PER_USER: the least recently refreshed sessions made room for this one.
      for (const sid of result.evicted) fastify.securityEvent(request, 'session.revoked', { user_id: result.user_id, session_id: sid, reason: 'max_sessions' })
      return result.response
    }
  })
}

export default login
