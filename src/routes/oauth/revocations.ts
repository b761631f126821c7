import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { presentedCredentials } from '../../auth/client-credentials.js'
import { monotonicOf } from '../../auth/clock.js'
import { OAuthError } from '../../errors.js'
import { authorizationHeader } from '../../plugins/auth.js'
import { streamFeed } from '../../revocation/subscription.js'
import { authenticateClient } from './client-auth.js'
import { oauthErrors } from './schemas.js'

/**
 * Open subscriptions per instance. Each holds at most one batch of events in memory
 * (subscription.ts SNAPSHOT_BATCH, about 75 KB): about 40 MB for all of them at worst.
 */
export const MAX_SUBSCRIBERS = 512

/**
 * The revocation feed for the verifier library (revocation/subscription.ts has the protocol): a client
 * with the `revocations` privilege, authenticated with client_secret_basic (a GET has no body).
 * Registered only with Redis, where the feed is. An open subscription ends within REVOCATION_MAX_LAG_MS
 * of its client losing the privilege, being deleted or having its secret rotated.
 */
const revocations: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/oauth/revocations', {
    schema: {
      tags: ['oauth'],
      summary: 'The revocation feed (Server-Sent Events)',
      description:
        'A snapshot of the live revocations, then live events and heartbeats, as text/event-stream. ' +
        'Resume with Last-Event-ID (the id of `ready` and of every heartbeat). Needs the `revocations` privilege.',
      headers: Type.Object({ 'last-event-id': Type.Optional(Type.String()) }),
      response: {
        200: { description: 'text/event-stream: generation, revocation, ready, heartbeat events', content: { 'text/event-stream': { schema: Type.String() } } },
        ...oauthErrors
      }
    },
    handler: async (request, reply) => {
      const client = await authenticateClient(fastify, request)
      if (!client.privileges.includes('revocations')) throw new OAuthError(403, 'unauthorized_client', 'the client lacks the revocations privilege')
      const feed = fastify.revocationFeeds.forSubscribers()!
      if (feed.subscribers.size >= MAX_SUBSCRIBERS) {
        throw new OAuthError(503, 'temporarily_unavailable', 'too many subscribers on this instance; try another, or later', { 'retry-after': '5' })
      }
      // Asked again every REVOCATION_MAX_LAG_MS: the same credentials must still prove the same client, with the privilege.
      const credentials = presentedCredentials(authorizationHeader(request), undefined)
      const stillAllowed = async (): Promise<boolean> => (await fastify.auth.clients.authenticate(credentials)).privileges.includes('revocations')
      reply.hijack()
      fastify.securityEvent(request, 'client.feed_subscribed', { client_id: client.client_id })
      const { REVOCATION_MAX_LAG_MS } = fastify.config
      const heartbeatMs = Math.max(10, Math.floor(REVOCATION_MAX_LAG_MS / 4))
      const { feedSubscribers, feedSubscribersCut } = fastify.metrics
      feedSubscribers.inc()
      reply.raw.once('close', () => feedSubscribers.dec())
      const onStalled = (): void => {
        feedSubscribersCut.inc()
        request.log.warn({ client_id: client.client_id }, 'revocation feed subscriber cut off: it read nothing for a while')
      }
      await streamFeed(reply.raw, { feed, lastEventId: request.headers['last-event-id'], heartbeatMs, stillAllowed, recheckMs: REVOCATION_MAX_LAG_MS, onStalled, monotonic: monotonicOf(fastify.auth.clock) }).catch((error: unknown) => {
        request.log.warn({ err: { message: (error as Error).message } }, 'revocation feed subscription ended')
        reply.raw.destroy()
      })
    }
  })
}

export default revocations
