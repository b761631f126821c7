/**
 * The plugin's registration fails with its own message, naming the cause, before Fastify's plugin timeout.
 * Here a service with no feed; a wrong credential and a missing privilege, which need a service with a feed
 * (Redis), are in verifier.test.ts.
 */
import Fastify from 'fastify'
import { test } from 'tap'
import jwtAuth from '@jwt-auth-service/verifier/fastify'
import { buildTestApp, createClient } from '../helper.js'

test('against a service without a feed, the plugin says so, before Fastify gives up on it', async (t) => {
  // The embedded store keeps revocations in SQLite: the service has no feed to serve.
  const service = await buildTestApp(t, 'embedded')
  const url = await service.listen({ port: 0, host: '127.0.0.1' })
  const secret = await createClient(service, 'feed-reader', ['read'], { privileges: ['revocations'] })
  // A short plugin timeout, and no readyTimeoutMs: the plugin's default must stay below it.
  const api = Fastify({ pluginTimeout: 2_500 })
  t.teardown(() => api.close())
  api.register(jwtAuth, {
    issuer: 'http://auth.test',
    audience: 'http://auth.test',
    accept: ['user'],
    jwksUri: `${url}/.well-known/jwks.json`,
    feed: { url: `${url}/oauth/revocations`, clientId: 'feed-reader', clientSecret: secret }
  })
  const error = await api.ready().then(
    () => undefined,
    (failure: Error & { code?: string }) => failure
  )
  t.equal(error?.code, 'FEED_STALE', "the plugin's error, not Fastify's timeout")
  t.match(error?.message, /has no revocation feed \(it needs REDIS_URL\)/, 'the message names the cause')
})
