import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { bearerTokenOf } from '@jwt-auth-service/verifier/feed'
import type { FastifyRequest } from 'fastify'
import Type from 'typebox'
import { presentedCredentials } from '../../auth/client-credentials.js'
import { monotonicOf } from '../../auth/clock.js'
import { OAuthError, ServiceError } from '../../errors.js'
import { authorizationHeader } from '../../plugins/auth.js'
import type { Client } from '../../schemas/clients.js'
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
 * with the `revocations` privilege. A GET has no body to carry an assertion, so the client authenticates
 * with client_secret_basic, or, without a secret, with `Authorization: Bearer` and an access token of its
 * own for the feed's URL as resource (RFC 8707), got with its assertion. Registered only with Redis, where
 * the feed is. An open subscription ends within REVOCATION_MAX_LAG_MS of its client losing the privilege,
 * being deleted or changing its credential, and, for a token, of the token's expiry or revocation.
 */
const revocations: FastifyPluginAsyncTypebox = async (fastify) => {
  const feedUrl = `${fastify.config.ISSUER}/oauth/revocations`

  /** The client a Bearer access token was issued to, for this feed; undefined when the token no longer proves it. */
  async function tokenHolder(token: string): Promise<Client | undefined> {
    const verified = await fastify.auth.verifier.verify(token, { audience: feedUrl })
    if (verified.kind !== 'client') throw new ServiceError('TOKEN_INVALID', 'the token is not a client token')
    // The feed checks no DPoP proof: a bound token here would work as a bearer token for whoever holds it.
    if (verified.claims.cnf !== undefined) throw new ServiceError('TOKEN_INVALID', 'the token is bound to a key (DPoP), which the feed does not check; use an unbound token or Basic')
    return fastify.auth.clients.find(verified.claims.client_id)
  }

  /** Who reads the feed, and how to ask again later whether they still may. */
  async function subscriber(request: FastifyRequest): Promise<{ client: Client; stillAllowed: () => Promise<boolean> }> {
    const authorization = authorizationHeader(request)
    const token = bearerTokenOf(authorization)
    if (typeof token !== 'string') {
      const client = await authenticateClient(fastify, request)
      // Asked again every REVOCATION_MAX_LAG_MS: the same credentials must still prove the same client, with the privilege.
      const credentials = presentedCredentials(authorization, undefined)
      return { client, stillAllowed: async () => (await fastify.auth.clients.authenticate(credentials)).privileges.includes('revocations') }
    }
    let client: Client | undefined
    try {
      client = await tokenHolder(token)
    } catch (error) {
      if (!(error instanceof ServiceError) || error.statusCode !== 401) throw error
      throw new OAuthError(401, 'invalid_token', `${error.message}: a Bearer token here is a client's access token for ${feedUrl}`, { 'www-authenticate': 'Bearer error="invalid_token"' })
    }
    if (client === undefined) throw new OAuthError(401, 'invalid_token', 'the client the token was issued to no longer exists', { 'www-authenticate': 'Bearer error="invalid_token"' })
    return { client, stillAllowed: async () => (await tokenHolder(token))?.privileges.includes('revocations') ?? false }
  }

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
      const { client, stillAllowed } = await subscriber(request)
      if (!client.privileges.includes('revocations')) throw new OAuthError(403, 'unauthorized_client', 'the client lacks the revocations privilege')
      const feed = fastify.revocationFeeds.forSubscribers()!
      if (feed.subscribers.size >= MAX_SUBSCRIBERS) {
        throw new OAuthError(503, 'temporarily_unavailable', 'too many subscribers on this instance; try another, or later', { 'retry-after': '5' })
      }
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
