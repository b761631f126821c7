import { randomUUID } from 'node:crypto'
import type { FastifyServerOptions } from 'fastify'
import type { Config } from './config.js'

/**
 * pino, as the process runs it: JSON, a request id per request, and nothing secret. Request bodies
 * are never logged; the paths below cover what could still carry a credential or a hash.
 */
export function loggerOptions(config: Config, stream?: NodeJS.WritableStream): Pick<FastifyServerOptions, 'logger' | 'genReqId'> {
  return {
    logger: {
      level: config.LOG_LEVEL,
      ...(stream === undefined ? {} : { stream }),
      // Explicit paths, no wildcards: pino compiles them into a cheap function (wildcards cost on every line).
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers["proxy-authorization"]',
          'password',
          'current_password',
          'password_confirmation',
          'client_secret',
          'access_token',
          'token',
          'password_hash',
          'secret_hash',
          // PostgreSQL puts the offending values of a failed statement here.
          'err.detail',
          'err.cause.detail'
        ],
        censor: '[redacted]'
      }
    },
    genReqId: () => randomUUID()
  }
}
