import type { FastifyRequest } from 'fastify'
import { OAuthError } from '../../errors.js'
import { hashClientSecret, secretMatches, type Client, type ClientStore } from '../../stores/clients/index.js'

/** Compared against when the client is unknown, so that an unknown id costs what a wrong secret does. */
const DUMMY_SECRET_HASH = hashClientSecret('no client has this secret')

function invalidClient(description: string, basic: boolean): OAuthError {
  // RFC 6749 §5.2: a 401 when the client tried the Authorization header, with the scheme it used.
  return new OAuthError(401, 'invalid_client', description, basic ? { 'www-authenticate': 'Basic realm="jwt-auth-service"' } : {})
}

/** RFC 6749 §2.3.1: the id and secret are form-urlencoded before base64. */
function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '))
}

export function basicCredentials(header: string): { id: string; secret: string } | undefined {
  const match = /^basic +([A-Za-z0-9+/=]+) *$/i.exec(header)
  if (match === null) return undefined
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return undefined
  try {
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) }
  } catch {
    return undefined
  }
}

/**
 * client_secret_basic or client_secret_post (never both, RFC 6749 §2.3). The secret is checked in
 * constant time against its SHA-256.
 */
export async function authenticateClient(request: FastifyRequest, clients: ClientStore): Promise<Client> {
  const body = (request.body ?? {}) as { client_id?: string; client_secret?: string }
  const header = request.headers.authorization
  const basic = header !== undefined && /^basic\b/i.test(header)
  if (basic && body.client_secret !== undefined) {
    throw new OAuthError(400, 'invalid_request', 'use one client authentication method, not two')
  }
  let credentials: { id: string; secret: string } | undefined
  if (basic) {
    credentials = basicCredentials(header)
    if (credentials === undefined) throw invalidClient('the Basic credentials are malformed', true)
    if (body.client_id !== undefined && body.client_id !== credentials.id) {
      throw new OAuthError(400, 'invalid_request', 'client_id in the body differs from the authenticated client')
    }
  } else if (body.client_id !== undefined && body.client_secret !== undefined) {
    credentials = { id: body.client_id, secret: body.client_secret }
  } else {
    throw invalidClient('client authentication is required (client_secret_basic or client_secret_post)', false)
  }
  const client = await clients.find(credentials.id)
  const matches = secretMatches(credentials.secret, client?.secret_hash ?? DUMMY_SECRET_HASH)
  if (client === undefined || !matches) throw invalidClient('unknown client or wrong secret', basic)
  return client
}
