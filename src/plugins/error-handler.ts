import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
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

/** Node's errors for a request it could not read (`clientError`); any other is a malformed request. */
const CLIENT_ERROR_CODES: Record<string, ErrorCode> = {
  ERR_HTTP_REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  HPE_HEADER_OVERFLOW: 'HEADERS_TOO_LARGE'
}

/**
 * The server's `clientErrorHandler`: the answer when Node's HTTP parser refuses a request or a request
 * is not complete within `requestTimeout`. Fastify's default body has no `code`; this one has the
 * contract's. There is no Fastify request yet, so this writes to the socket itself, as Node does.
 */
export function clientErrorHandler(this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  // A reset connection has nobody left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const code = CLIENT_ERROR_CODES[error.code ?? ''] ?? 'VALIDATION_FAILED'
  const body = errorBody(code, code === 'VALIDATION_FAILED' ? 'the request is not valid HTTP' : undefined)
  // The code only: a parser error carries the raw bytes it choked on, Authorization header included.
  this.log.debug({ code: error.code }, 'client error')
  // Never into a response that has begun (Node's own rule, lib/_http_server.js).
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent: boolean } })._httpMessage
  if (socket.writable && inFlight?.headersSent !== true) {
    const json = JSON.stringify(body)
    socket.write(
      `HTTP/1.1 ${body.statusCode} ${STATUS_CODES[body.statusCode]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`
    )
  }
  socket.destroy(error)
}

/**
 * The server's `frameworkErrors`: a URL the router cannot decode (bad percent-encoding) or a path
 * parameter over `maxParamLength`. Fastify answers these outside the error handler, with its own codes.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const known = error.code === 'FST_ERR_BAD_URL' || error.code === 'FST_ERR_MAX_PARAM_LENGTH'
  if (!known) request.log.error({ err: error }, 'request failed')
  void reply.code(known ? 400 : 500).send(known ? errorBody('VALIDATION_FAILED', 'the URL is not valid') : errorBody('INTERNAL'))
}

/**
 * One place where every error becomes the service's body `{ statusCode, error, code, message }`.
 * A 5xx never carries internal detail: its cause goes to the log only.
 */
export default fp(
  async function errorHandler(fastify) {
    fastify.setErrorHandler(async (error: FastifyError | ServiceError, request: FastifyRequest, reply: FastifyReply) => {
      const { code, message } = translate(error)
      const body = errorBody(code, message)
      // The reason goes on the request's "request completed" line (TOKEN_REVOKED, TOKEN_EXPIRED…), so
      // that a 401 can be explained from the log; the code only, never the token or the message.
      reply.log = reply.log.child({ code })
      if (body.statusCode >= 500) {
        const cause = error instanceof ServiceError ? error.cause : error
        request.log.error({ err: cause, code }, 'request failed')
      }
      if (error instanceof ServiceError) reply.headers(error.headers)
      // A DPoP refusal carries its own challenge (RFC 9449 §7.1).
      if (body.statusCode === 401 && !reply.hasHeader('www-authenticate')) reply.header('www-authenticate', challenge(code, body.message))
      return reply.code(body.statusCode).send(body)
    })

    fastify.setNotFoundHandler(async (request, reply) => {
      return reply.code(404).send(errorBody('NOT_FOUND', `${request.method} ${request.url.split('?')[0]!.slice(0, 200)} is not a route`))
    })
  },
  { name: 'error-handler' }
)
