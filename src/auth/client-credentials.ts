import { OAuthError } from '../errors.js'

/** What a client presents to authenticate: client_secret_basic or client_secret_post (RFC 6749 §2.3.1). */
export interface ClientCredentials {
  id: string
  secret: string
  /** Presented in the Authorization header: a failure then answers with a Basic challenge. */
  basic: boolean
}

/** The client-authentication fields a form body may carry. */
export interface ClientAuthBody {
  client_id?: string
  client_secret?: string
}

/** RFC 6749 §2.3.1: the id and secret are form-urlencoded before base64. */
function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '))
}

function basicCredentials(header: string): { id: string; secret: string } | undefined {
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

export function invalidClient(description: string, basic: boolean): OAuthError {
  // RFC 6749 §5.2: a 401 when the client tried the Authorization header, with the scheme it used.
  return new OAuthError(401, 'invalid_client', description, basic ? { 'www-authenticate': 'Basic realm="jwt-auth-service"' } : {})
}

/** The credentials of a request, in one method and not two (RFC 6749 §2.3); an OAuthError otherwise. */
export function presentedCredentials(authorization: string | undefined, body: ClientAuthBody | undefined): ClientCredentials {
  const { client_id, client_secret } = body ?? {}
  const basic = authorization !== undefined && /^basic\b/i.test(authorization)
  if (basic && client_secret !== undefined) throw new OAuthError(400, 'invalid_request', 'use one client authentication method, not two')
  if (basic) {
    const credentials = basicCredentials(authorization)
    if (credentials === undefined) throw invalidClient('the Basic credentials are malformed', true)
    if (client_id !== undefined && client_id !== credentials.id) {
      throw new OAuthError(400, 'invalid_request', 'client_id in the body differs from the authenticated client')
    }
    return { ...credentials, basic }
  }
  if (client_id !== undefined && client_secret !== undefined) return { id: client_id, secret: client_secret, basic }
  throw invalidClient('client authentication is required (client_secret_basic or client_secret_post)', false)
}
