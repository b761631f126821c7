import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger, FastifyRequest, FastifyServerOptions } from 'fastify'
import type { Config } from './config.js'

/**
 * Query parameters that carry a credential when a client puts one in the URL (RFC 6750 §2.3's
 * `?access_token=`, a client secret on /oauth/token): their values never reach the log.
 */
const SECRET_PARAMETERS = new Set(['access_token', 'token', 'client_secret', 'refresh_token', 'password'])

function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' ')).toLowerCase()
  } catch {
    return name.toLowerCase()
  }
}

/** The URL as logged: the value of each secret parameter is `[REDACTED]`; its name stays, so that the misuse shows. */
export function redactUrl(url: string): string {
  const start = url.indexOf('?')
  if (start === -1) return url
  const pairs = url.slice(start + 1).split('&').map((pair) => {
    const equals = pair.indexOf('=')
    if (equals === -1 || !SECRET_PARAMETERS.has(decodedName(pair.slice(0, equals)))) return pair
    return `${pair.slice(0, equals)}=[REDACTED]`
  })
  return `${url.slice(0, start + 1)}${pairs.join('&')}`
}

/**
 * pino, as the process runs it: JSON, a request id per request, and nothing secret. Request bodies
 * are never logged; the paths below cover what could still carry a credential or a hash.
 */
const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity }

type LogMethod = (...args: unknown[]) => void
type Bindings = Parameters<FastifyBaseLogger['child']>[0]
type ChildLoggerOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>

/**
 * A request's logger, made only when a line is written: pino's `child` (bindings serialised and redacted)
 * cost more than a whole /health/live request's own work, on every request, for a logger that at
 * LOG_LEVEL=warn almost never writes. A level below the request's (the route's `logLevel`, else the
 * server's) writes nothing and makes nothing.
 */
class LazyRequestLogger {
  private made: FastifyBaseLogger | undefined
  readonly level: string
  private readonly threshold: number
  constructor(private readonly parent: FastifyBaseLogger, private readonly bindings: Bindings, private readonly options: ChildLoggerOptions) {
    this.level = options.level ?? parent.level
    this.threshold = LEVELS[this.level] ?? LEVELS.info!
  }

  private get logger(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings, this.options))
  }

  private write(level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal', args: unknown[]): void {
    if (LEVELS[level]! >= this.threshold) (this.logger[level] as LogMethod)(...args)
  }

  trace(...args: unknown[]): void {
    this.write('trace', args)
  }
  debug(...args: unknown[]): void {
    this.write('debug', args)
  }
  info(...args: unknown[]): void {
    this.write('info', args)
  }
  warn(...args: unknown[]): void {
    this.write('warn', args)
  }
  error(...args: unknown[]): void {
    this.write('error', args)
  }
  fatal(...args: unknown[]): void {
    this.write('fatal', args)
  }
  silent(): void {}
  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger.child(bindings, options)
  }
  isLevelEnabled(level: string): boolean {
    return (LEVELS[level] ?? Infinity) >= this.threshold
  }
}

export function loggerOptions(config: Config, stream?: NodeJS.WritableStream): Pick<FastifyServerOptions, 'logger' | 'genReqId' | 'childLoggerFactory'> {
  return {
    logger: {
      level: config.LOG_LEVEL,
      ...(stream === undefined ? {} : { stream }),
      // Fastify's request serializer, with the URL's secrets redacted.
      serializers: {
        req: (request: FastifyRequest) => ({
          method: request.method,
          url: redactUrl(request.url),
          host: request.host,
          remoteAddress: request.ip,
          remotePort: request.socket?.remotePort
        })
      },
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
    genReqId: () => randomUUID(),
    childLoggerFactory: (logger, bindings, options) => new LazyRequestLogger(logger, bindings, options) as unknown as FastifyBaseLogger
  }
}
