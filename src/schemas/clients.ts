import Type, { type Static } from 'typebox'

/**
 * What a client may do besides getting tokens for itself (RFC 7662 §2.1, RFC 7009 §2.1: the server
 * decides): introspect and revoke tokens that are not its own, and read the revocation feed.
 */
export const Privilege = Type.Union([Type.Literal('introspect'), Type.Literal('revoke'), Type.Literal('revocations')])
export type Privilege = Static<typeof Privilege>
export const PRIVILEGES: readonly Privilege[] = ['introspect', 'revoke', 'revocations']

/** A service account that gets tokens with the client-credentials grant (never its secret). */
export const Client = Type.Object({
  client_id: Type.String(),
  /** The scopes it may ask for. */
  scopes: Type.Array(Type.String()),
  /** The audiences (RFC 8707 resource indicators) it may ask tokens for; the first is its tokens' default. */
  audiences: Type.Array(Type.String()),
  privileges: Type.Array(Privilege),
  created_at: Type.String({ format: 'date-time' })
})
export type Client = Static<typeof Client>

/** What a client is registered with (the CLI's create). */
export type ClientRegistration = Pick<Client, 'scopes' | 'audiences' | 'privileges'>

/** RFC 6749 §A.1 allows more, but ids end up in headers, logs and Redis keys: keep them plain. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9._~-]{1,100}$/
/** RFC 6749 §A.4 scope-token: printable ASCII except space, `"` and `\`. */
export const SCOPE_TOKEN_PATTERN = /^[\x21\x23-\x5B\x5D-\x7E]{1,100}$/

/** RFC 8707 §2: a resource indicator is an absolute URI without a fragment. */
export function isResourceIndicator(value: string): boolean {
  try {
    return !value.includes('#') && new URL(value).protocol.length > 1 && !/\s/.test(value)
  } catch {
    return false
  }
}

/** A space-separated scope string as a list, without repeats. */
export function parseScopes(scope: string): string[] {
  return [...new Set(scope.split(' ').filter((token) => token !== ''))]
}
