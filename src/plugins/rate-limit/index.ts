import fastifyRateLimit from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest, onSendHookHandler, preHandlerAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { emailKey } from '../../auth/accounts.js'
import { ServiceError, StoreUnavailableError } from '../../errors.js'
import { authenticated } from '../auth.js'
import { addressKey } from './address.js'
import { memoryClientGate, memoryCounter, redisClientGate, redisCounter, type GateLimits, type WindowCounter } from './counters.js'

export interface RateLimits {
  /**
   * Every login attempt per address, then failed logins per account *and* address, and per account from
   * all addresses together: guessing stays expensive, and no guesser can lock the owner out from elsewhere.
   */
  login: preHandlerAsyncHookHandler[]
  /** The login route's onSend: counts the attempt the failure limits let through, once its answer is known. */
  loginAnswered: onSendHookHandler
  register: preHandlerAsyncHookHandler[]
  /** Per user, for PUT /api/user/password (which verifies the current password); runs after `authenticate`. */
  password: preHandlerAsyncHookHandler[]
  /** The mail routes (forgot, reset, email/verify): per client address. */
  mailByAddress: preHandlerAsyncHookHandler[]
  /**
   * POST /api/password/forgot, after mailByAddress: per email address, known or not (the same answer either
   * way), so that nobody fills an inbox or probes for accounts faster than the limits allow.
   */
  mailByEmail: preHandlerAsyncHookHandler[]
  /** POST /api/email/resend: per user; runs after `authenticate`. */
  mailByUser: preHandlerAsyncHookHandler[]
  /**
   * After a client's secret was checked (token, introspect, revoke): 429 while the client id has too
   * many failures from this address (a correct secret is never refused because someone *else* guessed
   * wrong), else counts a failure, or a grant (`grant`: successful grants per client, counted after
   * authentication, so that only the client itself spends them).
   */
  clientAuthenticated(request: FastifyRequest, clientId: string, authenticated: boolean, grant: boolean): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    limits: RateLimits
  }
}

/** The account a login (or a mail request) names (its email as uniqueness sees it); undefined when the body names none. */
function loginAccount(request: FastifyRequest): string | undefined {
  const body = request.body as { email?: unknown } | undefined
  return typeof body?.email === 'string' ? emailKey(body.email) : undefined
}

interface FailureRule {
  /** Counts per subject and address, or per subject alone. */
  per: 'subject and address' | 'subject'
  max: number
}

/** The counters of a login the failure limit let through, to count once its answer is known. */
type Pending = { counter: WindowCounter; key: string; rule: FailureRule }[]

/**
 * Rate limits on the endpoints that check a password or a secret. Counting every request uses
 * @fastify/rate-limit; counting *failures* (which it cannot) uses counters of our own: for logins,
 * checked before the password is and counted once the answer is known (onSend, before it is sent);
 * for clients, whose secrets cost no argon2, in one round trip once the secret was checked. With Redis the
 * counters live there (on the stores' connection), so they hold across instances; otherwise in memory,
 * per instance. A counter store that cannot answer is a 503, never a skipped limit: a password
 * endpoint without its limit would be a brute-force oracle.
 */
export default fp(
  async function rateLimit(fastify) {
    const { config } = fastify
    const redis = fastify.storeRedis
    const { clock } = fastify.auth
    const timeWindow = config.RATE_LIMIT_WINDOW * 1000
    const address = (request: FastifyRequest): string => addressKey(request.ip)

    function rateLimited(request: FastifyRequest, name: string, resetInMs: number): ServiceError {
      fastify.securityEvent(request, 'rate_limited', { limit: name })
      const seconds = Math.max(1, Math.ceil(resetInMs / 1000))
      return new ServiceError('RATE_LIMITED', `too many attempts; retry in ${seconds} seconds`, { 'retry-after': String(seconds) })
    }

    // @fastify/rate-limit marks a request once one of its limiters has run, and skips the others;
    // each limiter gets a context of its own so that one route can have several.
    async function limit(name: string, max: number, key: (request: FastifyRequest) => string): Promise<preHandlerAsyncHookHandler> {
      let hook: preHandlerAsyncHookHandler | undefined
      await fastify.register(async (context) => {
        await context.register(fastifyRateLimit, {
          global: false,
          redis,
          nameSpace: `rl:${name}:`,
          skipOnError: false,
          errorResponseBuilder: (request, limited) => rateLimited(request, name, limited.ttl)
        })
        hook = context.rateLimit({ max, timeWindow, keyGenerator: key }) as unknown as preHandlerAsyncHookHandler
      })
      const run = hook!
      return async function limited(request, reply) {
        try {
          await run.call(this, request, reply)
        } catch (error) {
          if (error instanceof ServiceError) throw error
          throw new StoreUnavailableError('rate limit', error)
        }
      }
    }

    const counter = (name: string): WindowCounter => (redis === undefined ? memoryCounter(timeWindow, clock.now) : redisCounter(redis, name, timeWindow))
    const pending = new WeakMap<FastifyRequest, Pending>()

    /**
     * A failure limit: refuses a subject (an account) whose failures have reached a rule's maximum,
     * before its credentials are checked; counts the request if it is answered 401 (wrong credentials);
     * clears the per-address count when it succeeds.
     */
    function failureLimit(name: string, subjectOf: (request: FastifyRequest) => string | undefined, rules: FailureRule[]): preHandlerAsyncHookHandler {
      const counters = rules.map((rule) => ({ rule, counter: counter(`${name}:${rule.per === 'subject' ? 'subject' : 'address'}`) }))
      return async function failures(request) {
        const subject = subjectOf(request)
        if (subject === undefined) return
        const keys = counters.map(({ rule, counter }) => ({ rule, counter, key: rule.per === 'subject' ? subject : `${subject}|${address(request)}` }))
        for (const { counter, key, rule } of keys) {
          const { count, resetInMs } = await counter.peek(key)
          if (count >= rule.max) throw rateLimited(request, name, resetInMs)
        }
        pending.set(request, keys)
      }
    }

    // On the login route only (login.ts), not on every request; a callback hook, without a promise when nothing is counted.
    const loginAnswered: onSendHookHandler = (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: Error | null, payload?: unknown) => void) => {
      const counted = pending.get(request)
      if (counted === undefined) return done(null, payload)
      pending.delete(request)
      const counting =
        reply.statusCode === 401
          ? Promise.all(counted.map(({ counter, key }) => counter.add(key)))
          : reply.statusCode < 400
            ? Promise.all(counted.filter(({ rule }) => rule.per === 'subject and address').map(({ counter, key }) => counter.clear(key)))
            : undefined
      if (counting === undefined) return done(null, payload)
      counting.then(() => done(null, payload), (error: Error) => done(error))
    }

    const gateLimits: GateLimits = { maxFailures: config.RATE_LIMIT_CLIENT_AUTH_FAILURES, maxGrants: config.RATE_LIMIT_TOKEN_PER_CLIENT, windowMs: timeWindow }
    const clientGate = redis === undefined ? memoryClientGate(gateLimits, clock.now) : redisClientGate(redis, gateLimits)

    fastify.decorate<RateLimits>('limits', {
      loginAnswered,
      login: [
        await limit('login-ip', config.RATE_LIMIT_LOGIN_PER_IP, address),
        failureLimit(
          'login-failures',
          loginAccount,
          [
            { per: 'subject and address', max: config.RATE_LIMIT_LOGIN_PER_ACCOUNT },
            { per: 'subject', max: config.RATE_LIMIT_LOGIN_FAILURES_PER_ACCOUNT }
          ]
        )
      ],
      register: [await limit('register-ip', config.RATE_LIMIT_REGISTER_PER_IP, address)],
      password: [await limit('password-user', config.RATE_LIMIT_PASSWORD_PER_USER, (request) => authenticated(request).sub)],
      mailByAddress: [await limit('mail-ip', config.RATE_LIMIT_MAIL_PER_IP, address)],
      // The body is validated before preHandler: the email is there.
      mailByEmail: [await limit('mail-email', config.RATE_LIMIT_MAIL_PER_EMAIL, (request) => loginAccount(request)!)],
      mailByUser: [await limit('mail-user', config.RATE_LIMIT_MAIL_PER_EMAIL, (request) => authenticated(request).sub)],
      async clientAuthenticated(request, clientId, authenticated, grant) {
        const verdict = await clientGate.pass(clientId, address(request), authenticated ? 'authenticated' : 'failed', grant)
        if (verdict.limited !== false) throw rateLimited(request, verdict.limited === 'grants' ? 'token-client' : 'client-auth-failures', verdict.resetInMs)
      }
    })
  },
  { name: 'rate-limit', dependencies: ['config', 'security-events', 'auth'] }
)
