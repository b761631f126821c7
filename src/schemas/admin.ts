/** The admin API's bodies (README, "Admin API"): clients as the clients CLI prints them, accounts as the users CLI does. */
import Type, { type Static } from 'typebox'
import { User } from './common.js'
import { JsonWebKeySet, Privilege, type Client } from './clients.js'

/** CLIENT_ID_PATTERN, and not only dots: `.` and `..` cannot be named in a URL's path. */
const ClientId = Type.String({ pattern: '^(?!\\.+$)[A-Za-z0-9._~-]{1,100}$', description: 'letters, digits and . _ ~ -, at most 100' })
/** RFC 6749 §A.4 scope-tokens (each at most 100 characters, checked in the route), space-separated. */
const Scope = Type.String({ pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E ]*$', maxLength: 2000, description: 'space-separated scopes' })
/** No control characters: nothing an operator means, and PostgreSQL refuses a NUL. */
const Text = (options: { description?: string } = {}) => Type.String({ minLength: 1, maxLength: 2000, pattern: '^[^\\x00-\\x1F\\x7F]*$', ...options })
const Audiences = Type.Array(Text(), { maxItems: 50, description: 'RFC 8707 resource indicators' })
const KeySetUri = Text({ description: 'https (plain http only to loopback, outside production)' })

/**
 * How the client authenticates; without one, it gets a secret (client_secret_basic, client_secret_post).
 * One object rather than a union of three: which members go with which method is checked in code, and
 * reported by name (README, "Admin API").
 */
export const CredentialBody = Type.Object({
  auth_method: Type.Union([Type.Literal('client_secret'), Type.Literal('private_key_jwt'), Type.Literal('federated')], {
    description: 'client_secret: a new secret, shown once; private_key_jwt (RFC 7523 §2.2): jwks_uri or jwks; federated: federated_issuer and federated_subject, keys optional'
  }),
  jwks_uri: Type.Optional(KeySetUri),
  jwks: Type.Optional(JsonWebKeySet),
  federated_issuer: Type.Optional(Text()),
  federated_subject: Type.Optional(Text())
}, { additionalProperties: false })
export type CredentialBody = Static<typeof CredentialBody>

const Fields = {
  scope: Type.Optional(Scope),
  audiences: Type.Optional(Audiences),
  privileges: Type.Optional(Type.Array(Privilege, { maxItems: 4 })),
  exchange_audiences: Type.Optional(Audiences),
  credential: Type.Optional(CredentialBody)
}

export const ClientCreateBody = Type.Object({ client_id: ClientId, ...Fields }, { additionalProperties: false })
export type ClientCreateBody = Static<typeof ClientCreateBody>
/** The fields given are replaced; a credential replaces the old one and refuses every token issued. */
export const ClientUpdateBody = Type.Object(Fields, { additionalProperties: false, minProperties: 1 })
export type ClientUpdateBody = Static<typeof ClientUpdateBody>

export const ClientIdParams = Type.Object({ client_id: ClientId })

/** A client as operators see it: its credential's public parts, never a secret or its hash. */
export const ClientView = Type.Object({
  client_id: Type.String(),
  scope: Type.String(),
  audiences: Type.Array(Type.String()),
  privileges: Type.Array(Privilege),
  exchange_audiences: Type.Optional(Type.Array(Type.String())),
  auth_method: Type.String(),
  jwks_uri: Type.Optional(Type.String()),
  jwks: Type.Optional(JsonWebKeySet),
  federated_issuer: Type.Optional(Type.String()),
  federated_subject: Type.Optional(Type.String()),
  created_at: Type.String({ format: 'date-time' })
})
export type ClientView = Static<typeof ClientView>

/** create, update with a new secret: the view, the secret (shown only now), and warnings for the operator. */
export const ClientWithSecret = Type.Object({
  ...ClientView.properties,
  client_secret: Type.Optional(Type.String()),
  warnings: Type.Optional(Type.Array(Type.String()))
})

export const RotatedSecret = Type.Object({ client_id: Type.String(), client_secret: Type.String() })
export const DeletedClient = Type.Object({ client_id: Type.String(), deleted: Type.Literal(true) })

export function clientView({ client_id, scopes, audiences, privileges, exchange_audiences, auth_method, jwks_uri, jwks, federated_issuer, federated_subject, created_at }: Client): ClientView {
  return {
    client_id,
    scope: scopes.join(' '),
    audiences,
    privileges,
    ...(exchange_audiences.length === 0 ? {} : { exchange_audiences }),
    auth_method,
    ...(jwks_uri === undefined ? {} : { jwks_uri }),
    ...(jwks === undefined ? {} : { jwks }),
    ...(federated_issuer === undefined ? {} : { federated_issuer, federated_subject }),
    created_at
  }
}

/** An id or an email: an account as a support request names it. */
export const AccountParams = Type.Object({ account: Type.String({ minLength: 1, maxLength: 255, pattern: '^[^\\x00-\\x1F\\x7F]*$' }) })

/** An account as operators see it: the user, and whether it is disabled. Never a hash. */
export const AccountView = Type.Object({ ...User.properties, disabled_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]) })
export const DeletedAccount = Type.Object({ id: Type.String(), email: Type.String(), deleted: Type.Literal(true) })
