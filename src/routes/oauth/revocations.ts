import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { OAuthError } from '../../errors.js'
import { streamFeed } from '../../revocation/subscription.js'
import { authenticateClient } from './client-auth.js'
import { oauthErrors } from './schemas.js'

/**
 * The revocation feed for the verifier library (revocation/subscription.ts has the protocol): a client
 * with the `revocations` privilege, authenticated with client_secret_basic (a GET has no body).
 * Registered only with Redis, where the feed is.
 */
const revocations: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/oauth/revocations', {
    schema: {
      tags: ['oauth'],
      summary: 'The revocation feed (Server-Sent Events)',
      description:
        'A snapshot of the live revocations, then live events and heartbeats, as text/event-stream. ' +
        'Resume with Last-Event-ID (the id of `ready` and of every heartbeat). Needs the `revocations` privilege.',
      headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ maxLength: 4096 })) }),
      response: {
        200: { description: 'text/event-stream: generation, revocation, ready, heartbeat events', content: { 'text/event-stream': { schema: Type.String() } } },
        ...oauthErrors
      }
    },
    handler: async (request, reply) => {
      const client = await authenticateClient(fastify, request)
      if (!client.privileges.includes('revocations')) throw new OAuthError(403, 'unauthorized_client', 'the client lacks the revocations privilege')
      const feed = fastify.auth.subscribableFeed()!
      reply.hijack()
      fastify.securityEvent(request, 'client.feed_subscribed', { client_id: client.client_id })
      const heartbeatMs = Math.max(10, Math.floor(fastify.config.REVOCATION_MAX_LAG_MS / 4))
      await streamFeed(reply.raw, { redis: fastify.auth.redis!, feed, lastEventId: request.headers['last-event-id'], heartbeatMs, log: request.log }).catch((error: unknown) => {
        request.log.warn({ err: { message: (error as Error).message } }, 'revocation feed subscription ended')
        reply.raw.destroy()
      })
    }
  })
}

export default revocations
