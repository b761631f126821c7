import fastifyRateLimit from '@fastify/rate-limit'
import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { ServiceError, StoreUnavailableError } from '../errors.js'
import { connectRedis } from '../stores/redis-connection.js'
import { basicCredentials } from '../routes/oauth/client-auth.js'
import { emailKey } from '../stores/users/index.js'

export interface RateLimits {
  /** Per IP, then per account (the email), so that a flood on one account does not lock out the others. */
  login: preHandlerAsyncHookHandler[]
  register: preHandlerAsyncHookHandler[]
  /** Per user, for PUT /api/user/password (which verifies the current password). */
  password: preHandlerAsyncHookHandler[]
  /** Per client id (as presented, before it is authenticated), for POST /oauth/token. */
  token: preHandlerAsyncHookHandler[]
}

declare module 'fastify' {
  interface FastifyInstance {
    limits: RateLimits
  }
}

/**
 * Rate limits on the endpoints that check a password (@fastify/rate-limit). With Redis configured the
 * counters live there, so they hold across instances; otherwise in memory, per instance.
 * A counter store that cannot answer is a 503, never a skipped limit: a password endpoint without its
 * limit would be a brute-force oracle.
 */
/** The client id a token request claims; the caller's address when it claims none. */
function presentedClientId(request: FastifyRequest): string {
  const header = request.headers.authorization
  const basic = header === undefined ? undefined : basicCredentials(header)
  return basic?.id ?? (request.body as { client_id?: string } | undefined)?.client_id ?? `ip:${request.ip}`
}

export default fp(
  async function rateLimit(fastify) {
    const { config } = fastify
    // A connection of its own: the revocation store owns (and closes) its clients.
    const redis = await connectRedis(config, fastify.log, 'rate limits')
    if (redis !== undefined) {
      fastify.addHook('onClose', async () => {
        await redis.quit().catch(() => redis.disconnect())
      })
    }
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
        await limit('login-account', config.RATE_LIMIT_LOGIN_PER_ACCOUNT, (request) => emailKey((request.body as { email: string }).email))
      ],
      register: [await limit('register-ip', config.RATE_LIMIT_REGISTER_PER_IP, (request) => request.ip)],
      password: [await limit('password-user', config.RATE_LIMIT_PASSWORD_PER_USER, (request) => request.auth!.claims.sub)],
      token: [await limit('token-client', config.RATE_LIMIT_TOKEN_PER_CLIENT, presentedClientId)]
    })
  },
  { name: 'rate-limit', dependencies: ['config', 'security-events'] }
)
