/**
 * The rules every verifier of jwt-auth-service's tokens applies alike: the service's own (its requests'
 * bearer tokens, GET /auth/verify) and this package's (verifier.ts, fastify.ts).
 */

/** RFC 6750 §2.1: `Bearer <token>`, the scheme case-insensitive (RFC 9110 §11.1), trailing spaces let through. */
const BEARER = /^bearer +(\S+) *$/i

/**
 * The token of an Authorization header: `undefined` when the header names no Bearer scheme at all (no
 * credentials), `null` when it does but is not `Bearer <token>` (malformed credentials).
 */
export function bearerTokenOf(header: string | undefined): string | undefined | null {
  if (header === undefined || !/^bearer\b/i.test(header)) return undefined
  return BEARER.exec(header)?.[1] ?? null
}

/** A JOSE header's `typ`, compared without case and without `application/` (RFC 7515 §4.1.9). */
export function normalizedTyp(typ: unknown): string {
  return typeof typ === 'string' ? typ.toLowerCase().replace(/^application\//, '') : ''
}

/** The scopes of `required` that `granted` (a space-separated scope claim, RFC 6749 §3.3) lacks, in order. */
export function missingScopes(granted: string | undefined, required: readonly string[]): string[] {
  if (required.length === 0) return []
  const have = new Set((granted ?? '').split(' ').filter((scope) => scope !== ''))
  return required.filter((scope) => !have.has(scope))
}

/** The service's token kinds: a user's token (a session's) and a client's (client credentials, RFC 9068). */
export type TokenKind = 'user' | 'client'
export const TOKEN_KINDS: readonly TokenKind[] = ['user', 'client']

/** The algorithms the service signs with; a token of any other is refused (RFC 8725 §3.1). */
export const TOKEN_ALGORITHMS = ['ES256', 'EdDSA', 'RS256'] as const

/** Each kind's `typ` (normalizedTyp): `JWT` for a user's token, `at+jwt` for a client's (RFC 9068 §2.1). */
const KIND_BY_TYP: Readonly<Record<string, TokenKind>> = { jwt: 'user', 'at+jwt': 'client' }

/** A token's kind by its JOSE header's `typ`; undefined for any other `typ`, which no kind has. */
export function tokenKindOf(typ: unknown): TokenKind | undefined {
  return KIND_BY_TYP[normalizedTyp(typ)]
}

/** The claims every token of a kind carries (a verifier that finds one missing refuses the token). */
export const REQUIRED_CLAIMS: Readonly<Record<TokenKind, readonly string[]>> = {
  user: ['iss', 'sub', 'iat', 'exp', 'jti', 'sid', 'auth_time'],
  client: ['iss', 'sub', 'aud', 'iat', 'exp', 'jti', 'client_id', 'scope']
}

/** A marker claim (a feed generation, a client's epoch: feed/markers.ts), absent from tokens issued before markers. */
const isMarker = (value: unknown): boolean => value === undefined || Number.isSafeInteger(value)

/**
 * Whether a token's claims have the shape of its kind: a user's token names its session (`sid`, `auth_time`),
 * a client's names the client as its subject (`client_id` = `sub`) and its `scope`.
 */
export function claimsFitKind(kind: TokenKind, payload: Readonly<Record<string, unknown>>): boolean {
  const common = typeof payload.sub === 'string' && typeof payload.jti === 'string' && Number.isInteger(payload.iat) && Number.isInteger(payload.exp) && isMarker(payload.gen)
  if (!common) return false
  if (kind === 'user') return typeof payload.sid === 'string' && Number.isInteger(payload.auth_time)
  return payload.client_id === payload.sub && typeof payload.scope === 'string' && isMarker(payload.epoch)
}

/**
 * When a user token's session ends (ms): `auth_time` + the service's SESSION_TTL (s). No token outlives its
 * session: the service caps `exp` there, and a session shortened by a lower SESSION_TTL ends its tokens too.
 */
export const sessionEndMs = (authTime: number, sessionTtlSeconds: number): number => (authTime + sessionTtlSeconds) * 1000
