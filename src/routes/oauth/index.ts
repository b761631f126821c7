import formbody from '@fastify/formbody'
import type { FastifyError, FastifyPluginAsync } from 'fastify'
import { OAuthError, ServiceError } from '../../errors.js'
import introspect from './introspect.js'
import revocations from './revocations.js'
import revoke from './revoke.js'
import token from './token.js'

/** RFC 6749 §5.2 codes for our own errors, where one fits. */
function asOAuthError(error: FastifyError | ServiceError | OAuthError): OAuthError {
  if (error instanceof OAuthError) return error
  if (error instanceof ServiceError) {
    if (error.code === 'STORE_UNAVAILABLE') return new OAuthError(503, 'temporarily_unavailable', error.message, error.headers)
    if (error.code === 'RATE_LIMITED') return new OAuthError(429, 'slow_down', error.message, error.headers)
    return new OAuthError(error.statusCode, 'invalid_request', error.message, error.headers)
  }
  const status = error.statusCode ?? 500
  if (status >= 500) return new OAuthError(500, 'server_error', 'internal error')
  return new OAuthError(status, 'invalid_request', error.code === 'FST_ERR_VALIDATION' ? error.message : 'the request is not valid')
}

/**
 * The OAuth endpoints: form-encoded in, errors in RFC 6749 §5.2 form (`{ error, error_description }`)
 * instead of the seed API's shape. A context of their own, so that neither leaks into the other routes.
 */
const oauth: FastifyPluginAsync = async (fastify) => {
  await fastify.register(formbody, { bodyLimit: 16 * 1024 })
  fastify.setErrorHandler(async (error: FastifyError | ServiceError | OAuthError, request, reply) => {
    const oauthError = asOAuthError(error)
    // As for the seed API (error-handler.ts): the RFC 6749 §5.2 code on the request's log line.
    reply.log = reply.log.child({ code: oauthError.error })
    if (oauthError.error === 'invalid_client') fastify.securityEvent(request, 'client.auth_failed')
    if (oauthError.statusCode >= 500 && oauthError.statusCode !== 503) request.log.error({ err: error }, 'oauth request failed')
    return reply
      .code(oauthError.statusCode)
      .headers({ 'cache-control': 'no-store', ...oauthError.headers })
      .send({ error: oauthError.error, error_description: oauthError.message })
  })
  await fastify.register(token)
  await fastify.register(introspect)
  await fastify.register(revoke)
  // The feed lives in Redis: without it there is nothing to subscribe to.
  if (fastify.revocationFeeds.available) await fastify.register(revocations)
}

export default oauth
