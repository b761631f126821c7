/**
 * The rules every verifier of this service's tokens applies alike: the service's own (auth/verifier.ts,
 * plugins/auth.ts, routes/auth-verify.ts) and the library (verifier.ts, fastify.ts). It imports nothing of
 * the service, so that the library can carry it.
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
