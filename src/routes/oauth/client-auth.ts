import type { FastifyInstance, FastifyRequest } from 'fastify'
import { presentedCredentials, type ClientAuthBody } from '../../auth/client-credentials.js'
import { authorizationHeader } from '../../plugins/auth.js'
import type { Client } from '../../schemas/clients.js'

/**
 * client_secret_basic, client_secret_post or an assertion (private_key_jwt, a federated workload token;
 * one method, never two: RFC 6749 §2.3), checked by the clients service, then counted by the rate limits in
 * one round trip: 429 while the id has too many failures from this address (correct credentials or not),
 * 401 invalid_client for wrong ones. `grant`: the request spends one of the client's grants (POST
 * /oauth/token). `alongside`: a store step for a proven client (a grant's epoch), run in the same round
 * trip as the limits.
 */
export async function authenticateClient(
  fastify: FastifyInstance,
  request: FastifyRequest,
  options: { grant?: boolean; alongside?: (clientId: string) => Promise<unknown> } = {}
): Promise<Client> {
  // The route's schema (ClientAuthFields) has shaped the body.
  const credentials = presentedCredentials(authorizationHeader(request), request.body as ClientAuthBody)
  // RFC 7523 §3: an assertion may name this endpoint's URL as its audience.
  const endpoint = `${fastify.config.ISSUER}${request.routeOptions.url ?? ''}`
  // The limits run in the round trip that checks a cached client record (clients.ts).
  return fastify.auth.clients.authenticate(credentials, {
    endpoint,
    alongside: (clientId, proven) =>
      Promise.all([fastify.limits.clientAuthenticated(request, clientId, proven, options.grant ?? false), proven ? options.alongside?.(clientId) : undefined])
  })
}
