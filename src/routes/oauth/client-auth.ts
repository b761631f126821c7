import type { FastifyInstance } from 'fastify'
import { presentedCredentials, type ClientAuthBody } from '../../auth/client-credentials.js'
import type { Client } from '../../schemas/clients.js'

/**
 * client_secret_basic or client_secret_post (never both, RFC 6749 §2.3); the secret is checked by the
 * clients service, in constant time. 401 invalid_client otherwise.
 */
export async function authenticateClient(fastify: FastifyInstance, authorization: string | undefined, body: ClientAuthBody): Promise<Client> {
  return fastify.auth.clients.authenticate(presentedCredentials(authorization, body))
}
