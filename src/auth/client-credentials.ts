import { OAuthError } from '../errors.js'
import { assertedIdentity, CLIENT_ASSERTION_TYPE } from './client-assertions.js'

/**
 * What a client presents to authenticate: client_secret_basic or client_secret_post (RFC 6749 §2.3.1), or
 * an assertion (RFC 7521 §4.2: private_key_jwt, or a federated workload token).
 */
export type ClientCredentials = SecretCredentials | AssertionCredentials

export interface SecretCredentials {
  kind: 'secret'
  id: string
  secret: string
  /** Presented in the Authorization header: a failure then answers with a Basic challenge. */
  basic: boolean
}

export interface AssertionCredentials {
  kind: 'assertion'
  /** client_id when the request names it (RFC 7521 §4.2), else the assertion's `iss` when it equals its `sub` (RFC 7523 §3). */
  id: string | undefined
  /** The assertion's unverified `iss` and `sub`, which find a federated client when no id is given. */
  asserted: { iss: string; sub: string }
  assertion: string
  basic: false
}

/** The client-authentication fields a form body may carry. */
export interface ClientAuthBody {
  client_id?: string
  client_secret?: string
  client_assertion_type?: string
  client_assertion?: string
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
  const { client_id, client_secret, client_assertion_type, client_assertion } = body ?? {}
  const basic = authorization !== undefined && /^basic\b/i.test(authorization)
  const assertion = client_assertion !== undefined || client_assertion_type !== undefined
  if ([basic, client_secret !== undefined, assertion].filter(Boolean).length > 1) {
    throw new OAuthError(400, 'invalid_request', 'use one client authentication method, not two')
  }
  if (assertion) return assertionCredentials(client_id, client_assertion_type, client_assertion)
  if (basic) {
    const credentials = basicCredentials(authorization)
    if (credentials === undefined) throw invalidClient('the Basic credentials are malformed', true)
    if (client_id !== undefined && client_id !== credentials.id) {
      throw new OAuthError(400, 'invalid_request', 'client_id in the body differs from the authenticated client')
    }
    return { kind: 'secret', ...credentials, basic }
  }
  if (client_id !== undefined && client_secret !== undefined) return { kind: 'secret', id: client_id, secret: client_secret, basic }
  throw invalidClient('client authentication is required (client_secret_basic, client_secret_post or private_key_jwt)', false)
}

function assertionCredentials(clientId: string | undefined, type: string | undefined, assertion: string | undefined): AssertionCredentials {
  if (type !== CLIENT_ASSERTION_TYPE) throw new OAuthError(400, 'invalid_request', `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`)
  if (assertion === undefined) throw new OAuthError(400, 'invalid_request', 'client_assertion is missing')
  const asserted = assertedIdentity(assertion)
  if (asserted === undefined) throw invalidClient('client_assertion is not a JWT with iss and sub', false)
  const id = clientId ?? (asserted.iss === asserted.sub ? asserted.iss : undefined)
  return { kind: 'assertion', id, asserted, assertion, basic: false }
}
