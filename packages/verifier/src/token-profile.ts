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

/** RFC 9449 §7.1: `DPoP <token>`, the token68 syntax of RFC 9110 §11.2 as for Bearer. */
const DPOP = /^DPoP +([A-Za-z0-9\-._~+/]+=*) *$/i

/** An access token as an Authorization header presents it: `Bearer`, or `DPoP` with a proof beside it (RFC 9449 §7). */
export interface PresentedToken {
  token: string
  scheme: 'bearer' | 'dpop'
}

/** bearerTokenOf, for either scheme: undefined without credentials, null for malformed ones. */
export function presentedTokenOf(header: string | undefined): PresentedToken | undefined | null {
  if (header !== undefined && /^dpop\b/i.test(header)) {
    const token = DPOP.exec(header)?.[1]
    return token === undefined ? null : { token, scheme: 'dpop' }
  }
  const token = bearerTokenOf(header)
  return token === undefined || token === null ? token : { token, scheme: 'bearer' }
}

/**
 * The request's one `DPoP` proof (RFC 9449 §4.3 step 1): undefined without the header, null for more than one
 * (Node joins repeated headers with a comma, which no compact JWS holds).
 */
export function dpopProofOf(header: string | string[] | undefined): string | undefined | null {
  if (Array.isArray(header) || (header !== undefined && header.includes(','))) return null
  return header
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

/**
 * The service's token kinds: a user's token (a session's), a client's (client credentials, RFC 9068), and a
 * delegated one: a client's token that acts for another subject, got by token exchange (RFC 8693, its `act`).
 */
export type TokenKind = 'user' | 'client' | 'delegated'
export const TOKEN_KINDS: readonly TokenKind[] = ['user', 'client', 'delegated']

/** The kinds a `typ` tells apart; a delegated token is an `at+jwt` with `act` (tokenKind). */
export type TypKind = 'user' | 'client'

/** The algorithms the service signs with; a token of any other is refused (RFC 8725 §3.1). */
export const TOKEN_ALGORITHMS = ['ES256', 'EdDSA', 'RS256'] as const

/** Each kind's `typ` (normalizedTyp): `JWT` for a user's token, `at+jwt` for a client's (RFC 9068 §2.1). */
const KIND_BY_TYP: Readonly<Record<string, TypKind>> = { jwt: 'user', 'at+jwt': 'client' }

/** A token's kind as far as its JOSE header's `typ` tells; undefined for any other `typ`, which no kind has. */
export function tokenKindOf(typ: unknown): TypKind | undefined {
  return KIND_BY_TYP[normalizedTyp(typ)]
}

/** A token's kind: its `typ`'s, and, for an `at+jwt` with an actor (RFC 8693 §4.1), delegated. */
export function tokenKind(typKind: TypKind, payload: Readonly<Record<string, unknown>>): TokenKind {
  return typKind === 'client' && payload.act !== undefined ? 'delegated' : typKind
}

/** The claims every token of a `typ` carries (a verifier that finds one missing refuses the token). */
export const REQUIRED_CLAIMS: Readonly<Record<TypKind, readonly string[]>> = {
  user: ['iss', 'sub', 'iat', 'exp', 'jti', 'sid', 'auth_time'],
  client: ['iss', 'sub', 'aud', 'iat', 'exp', 'jti', 'client_id', 'scope']
}

/** A marker claim (a feed generation, a client's epoch: feed/markers.ts), absent from tokens issued before markers. */
const isMarker = (value: unknown): boolean => value === undefined || Number.isSafeInteger(value)

/**
 * Whether a token's claims have the shape of its kind: a user's token names its session (`sid`, `auth_time`),
 * a client's names the client as its subject (`client_id` = `sub`) and its `scope`; a delegated one names the
 * acting client (`client_id`, the outermost `act`), its `scope`, and the tokens it was exchanged from
 * (`exchanged_from`, delegation.ts).
 */
export function claimsFitKind(kind: TokenKind, payload: Readonly<Record<string, unknown>>): boolean {
  const common = typeof payload.sub === 'string' && typeof payload.jti === 'string' && Number.isInteger(payload.iat) && Number.isInteger(payload.exp) && isMarker(payload.gen)
  if (!common) return false
  if (kind === 'user') return typeof payload.sid === 'string' && Number.isInteger(payload.auth_time)
  if (typeof payload.client_id !== 'string' || typeof payload.scope !== 'string' || !isMarker(payload.epoch)) return false
  if (kind === 'client') return payload.client_id === payload.sub
  return actorDepth(payload.act) > 0 && (payload.act as Actor).sub === payload.client_id && isChain(payload.exchanged_from)
}

/** RFC 8693 §4.1: who acts, and, nested, who acted before it. */
export interface Actor {
  sub: string
  act?: Actor
}

/** The longest actor chain a token may carry here; the service's TOKEN_EXCHANGE_MAX_DEPTH is at most this. */
export const MAX_ACTOR_DEPTH = 10

/** How many actors `act` nests (0 without one); -1 when it is not an actor chain of at most MAX_ACTOR_DEPTH. */
export function actorDepth(act: unknown): number {
  let depth = 0
  for (let actor = act; actor !== undefined; actor = (actor as Actor).act) {
    if (typeof actor !== 'object' || actor === null || typeof (actor as Actor).sub !== 'string' || ++depth > MAX_ACTOR_DEPTH) return -1
  }
  return depth
}

/**
 * One token a delegated token was exchanged from, as its revocation is checked (`exchanged_from`, root first):
 * a user's session (`sid`), which any logout, reuse or revoke ends; or a client's token (`client_id`, `jti`),
 * a plain one or an earlier exchange's, revoked by itself or with its client's epoch.
 */
export type ExchangedFrom =
  | { sub: string; sid: string; iat: number; gen?: number }
  | { client_id: string; jti: string; iat: number; exp: number; epoch?: number; gen?: number }

function isExchangedFrom(value: unknown): value is ExchangedFrom {
  if (typeof value !== 'object' || value === null) return false
  const ref = value as Record<string, unknown>
  if (!Number.isInteger(ref.iat) || !isMarker(ref.gen)) return false
  if (typeof ref.sid === 'string') return typeof ref.sub === 'string'
  return typeof ref.client_id === 'string' && typeof ref.jti === 'string' && Number.isInteger(ref.exp) && isMarker(ref.epoch)
}

const isChain = (value: unknown): value is ExchangedFrom[] =>
  Array.isArray(value) && value.length > 0 && value.length <= MAX_ACTOR_DEPTH && value.every(isExchangedFrom)

/**
 * When a user token's session ends (ms): `auth_time` + the service's SESSION_TTL (s). No token outlives its
 * session: the service caps `exp` there, and a session shortened by a lower SESSION_TTL ends its tokens too.
 */
export const sessionEndMs = (authTime: number, sessionTtlSeconds: number): number => (authTime + sessionTtlSeconds) * 1000
