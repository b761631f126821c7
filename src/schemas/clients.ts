import Type, { type Static } from 'typebox'

/** A service account that gets tokens with the client-credentials grant (never its secret). */
export const Client = Type.Object({
  client_id: Type.String(),
  /** The scopes it may ask for. */
  scopes: Type.Array(Type.String()),
  created_at: Type.String({ format: 'date-time' })
})
export type Client = Static<typeof Client>

/** RFC 6749 §A.1 allows more, but ids end up in headers, logs and Redis keys: keep them plain. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9._~-]{1,100}$/
/** RFC 6749 §A.4 scope-token: printable ASCII except space, `"` and `\`. */
export const SCOPE_TOKEN_PATTERN = /^[\x21\x23-\x5B\x5D-\x7E]{1,100}$/

/** A space-separated scope string as a list, without repeats. */
export function parseScopes(scope: string): string[] {
  return [...new Set(scope.split(' ').filter((token) => token !== ''))]
}
