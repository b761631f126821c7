import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { StoreUnavailableError } from '../errors.js'

export interface Metrics {
  registry: Registry
  logins: Counter<'outcome'>
  refreshes: Counter<'outcome'>
  revocations: Counter<'kind'>
  reuseDetections: Counter
  clientTokens: Counter
  clientAuthFailures: Counter
  storeErrors: Counter<'store'>
  feedSubscribers: Gauge
  feedSubscribersCut: Counter
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

/**
 * Prometheus metrics (served by routes/metrics.ts): request durations by route and status, and the counters of
 * security events. A registry per app, so that several apps in one process (the tests) do not mix.
 */
export default fp(
  async function metrics(fastify) {
    const registry = new Registry()
    // Without our prefix: stock Node.js dashboards and alerts look for process_cpu_seconds_total and nodejs_*.
    collectDefaultMetrics({ register: registry })
    const duration = new Histogram({
      name: 'jwt_auth_http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry]
    })
    const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
      new Counter<L>({ name: `jwt_auth_${name}_total`, help, labelNames, registers: [registry] })

    const storeErrors = counter('store_errors', 'Requests answered 503 because a store could not answer', ['store'])
    fastify.decorate<Metrics>('metrics', {
      registry,
      logins: counter('logins', 'Logins by outcome (success, failure, refused, rate_limited)', ['outcome']),
      refreshes: counter('refreshes', 'Refreshes by outcome (rotated, repeated, reused, revoked)', ['outcome']),
      revocations: counter('revocations', 'Revocations by kind (logout, session, password_change, token, client)', ['kind']),
      reuseDetections: counter('reuse_detections', 'Refreshes of an already-rotated token after the grace (the session is revoked)'),
      clientTokens: counter('client_tokens', 'Client-credentials tokens issued'),
      clientAuthFailures: counter('client_auth_failures', 'Failed client authentications (invalid_client) at the token, introspection and revocation endpoints'),
      storeErrors,
      feedSubscribers: new Gauge({ name: 'jwt_auth_revocation_feed_subscribers', help: 'Open subscriptions to GET /oauth/revocations', registers: [registry] }),
      feedSubscribersCut: counter('revocation_feed_subscribers_cut', 'Feed subscribers cut off because they read nothing for a while')
    })

    // Before any error handler (the seed API's and the OAuth one alike): every 503 of a store counts once.
    fastify.addHook('onError', async (_request, _reply, error) => {
      // Label values without spaces ("rate limit" -> rate_limit): queries and dashboards match them as words.
      if (error instanceof StoreUnavailableError) storeErrors.inc({ store: error.store.replaceAll(' ', '_') })
    })

    // One labelled child per method, route and status, kept: prom-client would otherwise sort and hash the
    // label object on every observation. The route pattern, not the URL: bounded label values, a bounded map.
    const children = new Map<string, Histogram.Internal<string>>()
    fastify.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unmatched'
      const key = `${request.method} ${reply.statusCode} ${route}`
      let child = children.get(key)
      if (child === undefined) {
        child = duration.labels({ method: request.method, route, status_code: reply.statusCode })
        children.set(key, child)
      }
      child.observe(reply.elapsedTime / 1000)
      done()
    })
  },
  { name: 'metrics' }
)
