import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

/** Every security event the service reports: an audit log line each, and a metric. */
export type SecurityEvent =
  | 'login.success'
  | 'login.failure'
  /** The password was right, but the account may not log in (disabled, or its email not verified). */
  | 'login.refused'
  | 'rate_limited'
  | 'token.refreshed'
  | 'token.refresh_repeated'
  | 'token.reuse_detected'
  | 'session.logout'
  | 'session.revoked'
  | 'password.changed'
  | 'password.reset_requested'
  | 'password.reset'
  | 'account.deleted'
  | 'account.disabled'
  | 'email.verification_sent'
  | 'email.verified'
  | 'token.revoked'
  | 'client.token_issued'
  | 'client.token_exchanged'
  | 'client.auth_failed'
  | 'client.feed_subscribed'

export interface EventDetails {
  user_id?: string
  session_id?: string
  client_id?: string
  scope?: string
  [key: string]: string | number | undefined
}

declare module 'fastify' {
  interface FastifyInstance {
    /** One audit line (with request id and IP) and the matching counter. Never pass a secret. */
    securityEvent(request: FastifyRequest, event: SecurityEvent, details?: EventDetails): void
  }
}

export default fp(
  async function securityEvents(fastify) {
    const { metrics } = fastify
    const count: Partial<Record<SecurityEvent, () => void>> = {
      'login.success': () => metrics.logins.inc({ outcome: 'success' }),
      'login.failure': () => metrics.logins.inc({ outcome: 'failure' }),
      'token.refreshed': () => metrics.refreshes.inc({ outcome: 'rotated' }),
      'token.refresh_repeated': () => metrics.refreshes.inc({ outcome: 'repeated' }),
      'token.reuse_detected': () => {
        metrics.refreshes.inc({ outcome: 'reused' })
        metrics.reuseDetections.inc()
      },
      'session.logout': () => metrics.revocations.inc({ kind: 'logout' }),
      'session.revoked': () => metrics.revocations.inc({ kind: 'session' }),
      'login.refused': () => metrics.logins.inc({ outcome: 'refused' }),
      'password.changed': () => metrics.revocations.inc({ kind: 'password_change' }),
      'password.reset': () => metrics.revocations.inc({ kind: 'password_reset' }),
      'token.revoked': () => metrics.revocations.inc({ kind: 'token' }),
      'client.token_issued': () => metrics.clientTokens.inc(),
      'client.auth_failed': () => metrics.clientAuthFailures.inc()
    }

    fastify.decorate('securityEvent', function securityEvent(request: FastifyRequest, event: SecurityEvent, details: EventDetails = {}) {
      if (event === 'rate_limited' && request.routeOptions.url === '/api/login') metrics.logins.inc({ outcome: 'rate_limited' })
      count[event]?.()
      const level = event === 'token.reuse_detected' || event === 'login.failure' || event === 'client.auth_failed' ? 'warn' : 'info'
      request.log[level]({ audit: { event, ip: request.ip, ...details } }, event)
    })
  },
  { name: 'security-events', dependencies: ['metrics'] }
)
