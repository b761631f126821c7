import { STATUS_CODES } from 'node:http'

/**
 * The closed set of error codes a client can see, with their HTTP status and default message.
 * Clients branch on `code`; the message is for people and may change.
 */
export const ERRORS = {
  VALIDATION_FAILED: { status: 400, message: 'the request is not valid' },
  MALFORMED_BODY: { status: 400, message: 'the body is not valid JSON' },
  RESET_TOKEN_INVALID: { status: 400, message: 'the password reset link is unknown, used or expired; ask for a new one' },
  VERIFICATION_TOKEN_INVALID: { status: 400, message: 'the verification link is unknown, used or expired; ask for a new one' },
  INVALID_CREDENTIALS: { status: 401, message: 'the email or the password is wrong' },
  TOKEN_MISSING: { status: 401, message: 'a bearer token is required' },
  TOKEN_INVALID: { status: 401, message: 'the token is not valid' },
  TOKEN_EXPIRED: { status: 401, message: 'the token has expired' },
  TOKEN_REVOKED: { status: 401, message: 'the token has been revoked' },
  TOKEN_REUSED: { status: 401, message: 'the token was already refreshed; the session is revoked' },
  SESSION_EXPIRED: { status: 401, message: 'the session has expired; log in again' },
  DPOP_PROOF_INVALID: { status: 401, message: 'the DPoP proof is missing or not valid for this request' },
  DPOP_NONCE_REQUIRED: { status: 401, message: 'the DPoP proof must carry the nonce in the DPoP-Nonce header' },
  INSUFFICIENT_SCOPE: { status: 403, message: 'the token lacks a scope this route requires' },
  ACCOUNT_DISABLED: { status: 403, message: 'this account is disabled' },
  EMAIL_NOT_VERIFIED: { status: 403, message: 'the email of this account is not verified yet; follow the link in the verification mail' },
  NOT_FOUND: { status: 404, message: 'not found' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed' },
  REQUEST_TIMEOUT: { status: 408, message: 'the request was not received in time' },
  EMAIL_TAKEN: { status: 409, message: 'the email is already registered' },
  CLIENT_EXISTS: { status: 409, message: 'a client with that id exists already, or one trusts that federated issuer and subject' },
  CLIENT_HAS_NO_SECRET: { status: 409, message: 'the client authenticates without a secret' },
  BODY_TOO_LARGE: { status: 413, message: 'the body is larger than 16 KiB' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'the body must be application/json' },
  RATE_LIMITED: { status: 429, message: 'too many requests' },
  HEADERS_TOO_LARGE: { status: 431, message: 'the header section is too large' },
  INTERNAL: { status: 500, message: 'internal error' },
  STORE_UNAVAILABLE: { status: 503, message: 'a store is unavailable; retry later' },
  MAIL_UNAVAILABLE: { status: 503, message: 'this service sends no mail (no SMTP_URL is configured)' }
} as const satisfies Record<string, { status: number; message: string }>

export type ErrorCode = keyof typeof ERRORS

/** An error our own code throws on purpose; the error handler turns it into the service's error body. */
export class ServiceError extends Error {
  override name = 'ServiceError'
  readonly statusCode: number
  readonly code: ErrorCode
  /** Extra response headers, such as `Retry-After` or `WWW-Authenticate`. */
  readonly headers: Record<string, string>

  constructor(code: ErrorCode, message?: string, headers: Record<string, string> = {}, options?: ErrorOptions) {
    super(message ?? ERRORS[code].message, options)
    this.code = code
    this.statusCode = ERRORS[code].status
    this.headers = headers
  }
}

/** A store that a request needs could not answer. Always 503: fail closed, never 401 nor 200. */
export class StoreUnavailableError extends ServiceError {
  override name = 'StoreUnavailableError'
  constructor(readonly store: string, cause?: unknown) {
    super('STORE_UNAVAILABLE', `the ${store} store is unavailable; retry later`, { 'retry-after': '1' }, { cause })
  }
}

export interface ErrorBody {
  statusCode: number
  error: string
  code: ErrorCode
  message: string
}

export function errorBody(code: ErrorCode, message: string = ERRORS[code].message): ErrorBody {
  const statusCode = ERRORS[code].status
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', code, message }
}

/**
 * An error of the /oauth/* endpoints, in RFC 6749 §5.2 form: `{ error, error_description }`.
 * `error` is one of the RFC's codes (invalid_request, invalid_client, invalid_scope, ...).
 */
export class OAuthError extends Error {
  override name = 'OAuthError'
  constructor(
    readonly statusCode: number,
    readonly error: string,
    description: string,
    readonly headers: Record<string, string> = {}
  ) {
    super(description)
  }
}
