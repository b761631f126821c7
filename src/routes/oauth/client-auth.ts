import type { FastifyInstance, FastifyRequest } from 'fastify'
import { invalidClient, presentedCredentials, type ClientAuthBody } from '../../auth/client-credentials.js'
import { OAuthError } from '../../errors.js'
import { authorizationHeader } from '../../plugins/auth.js'
import type { Client } from '../../schemas/clients.js'

/**
 * client_secret_basic or client_secret_post (never both, RFC 6749 §2.3), checked by the clients
 * service in constant time, then counted by the rate limits in one round trip: 429 while the id has
 * too many failures from this address (correct secret or not), 401 invalid_client for a wrong one.
 * `grant`: the request spends one of the client's grants (POST /oauth/token).
 */
export async function authenticateClient(
  fastify: FastifyInstance,
  request: FastifyRequest,
  options: { grant: boolean } = { grant: false }
): Promise<Client> {
  // The route's schema (ClientAuthFields) has shaped the body.
  const credentials = presentedCredentials(authorizationHeader(request), request.body as ClientAuthBody)
  const client = await fastify.auth.clients.authenticate(credentials).catch((error: unknown) => {
    if (error instanceof OAuthError && error.error === 'invalid_client') return undefined
    throw error
  })
  await fastify.limits.clientAuthenticated(request, credentials.id, client !== undefined, options.grant)
  if (client === undefined) throw invalidClient('unknown client or wrong secret', credentials.basic)
  return client
}
