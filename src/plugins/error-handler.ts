import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { errorBody, ServiceError, type ErrorCode } from '../errors.js'

/** Fastify's own errors that a client can cause, translated once, here. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_VALIDATION: 'VALIDATION_FAILED',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'MALFORMED_BODY',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_BODY'
}

const BY_STATUS: Record<number, ErrorCode> = {
  400: 'VALIDATION_FAILED',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'BODY_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED'
}

const REALM = 'Bearer realm="jwt-auth-service"'
/** 401s that are not about a presented token: the challenge carries no `error` (RFC 6750 §3.1). */
const NO_TOKEN_CODES: ErrorCode[] = ['TOKEN_MISSING', 'INVALID_CREDENTIALS']

function challenge(code: ErrorCode, message: string): string {
  if (NO_TOKEN_CODES.includes(code)) return REALM
  return `${REALM}, error="invalid_token", error_description="${message.replace(/["\\]/g, '')}"`
}

function translate(error: FastifyError | ServiceError): { code: ErrorCode; message?: string } {
  if (error instanceof ServiceError) return { code: error.code, message: error.message }
  const known = error.code === undefined ? undefined : FASTIFY_CODES[error.code]
  if (known !== undefined) return { code: known, message: known === 'VALIDATION_FAILED' ? error.message : undefined }
  const status = error.statusCode ?? 500
  if (error instanceof SyntaxError && status === 400) return { code: 'MALFORMED_BODY' }
  const byStatus = BY_STATUS[status]
  if (byStatus !== undefined && status < 500) return { code: byStatus }
  return { code: 'INTERNAL' }
}

/**
 * One place where every error becomes SPEC.md's body `{ statusCode, error, code, message }`.
 * A 5xx never carries internal detail: its cause goes to the log only.
 */
export default fp(
  async function errorHandler(fastify) {
    fastify.setErrorHandler(async (error: FastifyError | ServiceError, request: FastifyRequest, reply: FastifyReply) => {
      const { code, message } = translate(error)
      const body = errorBody(code, message)
      if (body.statusCode >= 500) {
        const cause = error instanceof ServiceError ? error.cause : error
        request.log.error({ err: cause, code }, 'request failed')
      }
      if (error instanceof ServiceError) reply.headers(error.headers)
      if (body.statusCode === 401) reply.header('www-authenticate', challenge(code, body.message))
      return reply.code(body.statusCode).send(body)
    })

    fastify.setNotFoundHandler(async (request, reply) => {
      return reply.code(404).send(errorBody('NOT_FOUND', `${request.method} ${request.url.split('?')[0]!.slice(0, 200)} is not a route`))
    })
  },
  { name: 'error-handler' }
)
