import Type, { type Static } from 'typebox'

/**
 * What a client may do besides getting tokens for itself (RFC 7662 §2.1, RFC 7009 §2.1: the server
 * decides): introspect and revoke tokens that are not its own, read the revocation feed, and exchange a
 * token it was sent for one addressed to another service (RFC 8693; the audiences: `exchange_audiences`).
 */
export const Privilege = Type.Union([Type.Literal('introspect'), Type.Literal('revoke'), Type.Literal('revocations'), Type.Literal('exchange')])
export type Privilege = Static<typeof Privilege>
export const PRIVILEGES: readonly Privilege[] = ['introspect', 'revoke', 'revocations', 'exchange']

/**
 * How a client proves itself at /oauth/*: a shared secret (client_secret_basic or client_secret_post,
 * RFC 6749 §2.3.1); an assertion signed with its own key (private_key_jwt, RFC 7523 §2.2); or a token
 * another issuer gave the workload (federated: a Kubernetes service-account token, a SPIFFE JWT-SVID).
 */
export const AuthMethod = Type.Union([Type.Literal('client_secret'), Type.Literal('private_key_jwt'), Type.Literal('federated')])
export type AuthMethod = Static<typeof AuthMethod>

/** A JWK Set (RFC 7517 §5) of public keys. */
export const JsonWebKeySet = Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) })
export type JsonWebKeySet = Static<typeof JsonWebKeySet>

/** A service account that gets tokens with the client-credentials grant (never its secret). */
export const Client = Type.Object({
  client_id: Type.String(),
  /** The scopes it may ask for. */
  scopes: Type.Array(Type.String()),
  /** The audiences (RFC 8707 resource indicators) it may ask tokens for; the first is its tokens' default. */
  audiences: Type.Array(Type.String()),
  privileges: Type.Array(Privilege),
  /** The audiences it may exchange a token for (RFC 8693 `resource` or `audience`), with the `exchange` privilege. */
  exchange_audiences: Type.Array(Type.String()),
  auth_method: AuthMethod,
  /** private_key_jwt and federated: where the keys are (fetched and cached), or the keys themselves. */
  jwks_uri: Type.Optional(Type.String()),
  jwks: Type.Optional(JsonWebKeySet),
  /** federated: the `iss` and `sub` the workload's token must carry, exactly. */
  federated_issuer: Type.Optional(Type.String()),
  federated_subject: Type.Optional(Type.String()),
  created_at: Type.String({ format: 'date-time' })
})
export type Client = Static<typeof Client>

/** The keys of a private_key_jwt or federated client: a URI or the set itself (federated: neither, then OIDC discovery). */
export type KeySource = { jwks_uri: string; jwks?: undefined } | { jwks: JsonWebKeySet; jwks_uri?: undefined } | { jwks_uri?: undefined; jwks?: undefined }

/** How a client authenticates, as registered. */
export type ClientCredential =
  | { auth_method: 'client_secret' }
  | ({ auth_method: 'private_key_jwt' } & KeySource)
  | ({ auth_method: 'federated'; federated_issuer: string; federated_subject: string } & KeySource)

/** What a client is registered with (the CLI's create); without a credential, a secret. */
export type ClientRegistration = Pick<Client, 'scopes' | 'audiences' | 'privileges'> & { exchange_audiences?: string[]; credential?: ClientCredential }

/** The credential a client record describes. */
export function credentialOf(client: Client): ClientCredential {
  const keys: KeySource = client.jwks_uri !== undefined ? { jwks_uri: client.jwks_uri } : client.jwks !== undefined ? { jwks: client.jwks } : {}
  if (client.auth_method === 'private_key_jwt') return { auth_method: 'private_key_jwt', ...keys }
  if (client.auth_method === 'federated') {
    return { auth_method: 'federated', federated_issuer: client.federated_issuer ?? '', federated_subject: client.federated_subject ?? '', ...keys }
  }
  return { auth_method: 'client_secret' }
}

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
