import fastifyRateLimit from '@fastify/rate-limit'
import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { ServiceError, StoreUnavailableError } from '../errors.js'
import { emailKey } from '../auth/accounts.js'
import { presentedClientId, type ClientAuthBody } from '../auth/client-credentials.js'
import { authenticated } from './auth.js'

export interface RateLimits {
  /** Per IP, then per account (the email), so that a flood on one account does not lock out the others. */
  login: preHandlerAsyncHookHandler[]
  register: preHandlerAsyncHookHandler[]
  /** Per user, for PUT /api/user/password (which verifies the current password); runs after `authenticate`. */
  password: preHandlerAsyncHookHandler[]
  /** Per client id (as presented, before it is authenticated), for POST /oauth/token. */
  token: preHandlerAsyncHookHandler[]
}

declare module 'fastify' {
  interface FastifyInstance {
    limits: RateLimits
  }
}

/** The account a login names (its email as uniqueness sees it); the caller's address when the body names none. */
function loginAccount(request: FastifyRequest): string {
  const body = request.body as { email?: unknown } | undefined
  return typeof body?.email === 'string' ? emailKey(body.email) : `ip:${request.ip}`
}

/** The client id a token request claims; the caller's address when it claims none. */
function tokenClient(request: FastifyRequest): string {
  return presentedClientId(request.headers.authorization, request.body as ClientAuthBody | undefined) ?? `ip:${request.ip}`
}

/**
 * Rate limits on the endpoints that check a password (@fastify/rate-limit). With Redis configured the
 * counters live there (on the stores' connection), so they hold across instances; otherwise in
 * memory, per instance. A counter store that cannot answer is a 503, never a skipped limit: a
 * password endpoint without its limit would be a brute-force oracle.
 */
export default fp(
  async function rateLimit(fastify) {
    const { config } = fastify
    const { redis } = fastify.auth
    const timeWindow = config.RATE_LIMIT_WINDOW * 1000

    // @fastify/rate-limit marks a request once one of its limiters has run, and skips the others;
    // each limiter gets a context of its own so that login can be limited per IP *and* per account.
    async function limit(name: string, max: number, key: (request: FastifyRequest) => string): Promise<preHandlerAsyncHookHandler> {
      let hook: preHandlerAsyncHookHandler | undefined
      await fastify.register(async (context) => {
        await context.register(fastifyRateLimit, {
          global: false,
          redis,
          nameSpace: `rl:${name}:`,
          skipOnError: false,
          errorResponseBuilder: (request, limited) => {
            fastify.securityEvent(request, 'rate_limited', { limit: name })
            return new ServiceError('RATE_LIMITED', `too many attempts; retry in ${limited.after}`, { 'retry-after': String(Math.ceil(limited.ttl / 1000)) })
          }
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

    fastify.decorate<RateLimits>('limits', {
      login: [
        await limit('login-ip', config.RATE_LIMIT_LOGIN_PER_IP, (request) => request.ip),
        await limit('login-account', config.RATE_LIMIT_LOGIN_PER_ACCOUNT, loginAccount)
      ],
      register: [await limit('register-ip', config.RATE_LIMIT_REGISTER_PER_IP, (request) => request.ip)],
      password: [await limit('password-user', config.RATE_LIMIT_PASSWORD_PER_USER, (request) => authenticated(request).sub)],
      token: [await limit('token-client', config.RATE_LIMIT_TOKEN_PER_CLIENT, tokenClient)]
    })
  },
  { name: 'rate-limit', dependencies: ['config', 'security-events', 'auth'] }
)
