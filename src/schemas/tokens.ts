import type { Actor, ExchangedFrom } from '@jwt-auth-service/verifier/feed'
import Type, { type Static } from 'typebox'

/** The claims of a user token (README, "API"). Times are seconds, as JWT counts them (RFC 7519 §2). */
export const UserClaims = Type.Object({
  iss: Type.String(),
  sub: Type.String(),
  iat: Type.Integer(),
  exp: Type.Integer(),
  jti: Type.String(),
  /** Session id, kept across refreshes. */
  sid: Type.String(),
  /** When the session began, kept across refreshes. */
  auth_time: Type.Integer(),
  /** DEFAULT_AUDIENCE (RFC 7519 §4.1.3); tokens issued before audiences existed have none and count as DEFAULT_AUDIENCE. */
  aud: Type.Optional(Type.String()),
  /** With Redis: the generation of the revocation feed's shard it was issued in (stores/not-before.ts). */
  gen: Type.Optional(Type.Integer()),
  /** DPoP (RFC 9449 §6.1): the thumbprint of the key every use of the token must prove. */
  cnf: Type.Optional(Type.Object({ jkt: Type.String() }))
})
export type UserClaims = Static<typeof UserClaims>

/** The claims of a client-credentials token: RFC 9068 (`typ: at+jwt`); `sub` is the client's id. */
export const ClientClaims = Type.Object({
  iss: Type.String(),
  sub: Type.String(),
  client_id: Type.String(),
  aud: Type.String(),
  iat: Type.Integer(),
  exp: Type.Integer(),
  jti: Type.String(),
  /** Space-separated. */
  scope: Type.String(),
  /** The client's epoch it was issued under (stores/not-before.ts). */
  epoch: Type.Optional(Type.Integer()),
  /** With Redis: the generation of the revocation feed's shard it was issued in. */
  gen: Type.Optional(Type.Integer()),
  /** DPoP (RFC 9449 §6.1): the thumbprint of the key every use of the token must prove. */
  cnf: Type.Optional(Type.Object({ jkt: Type.String() }))
})
export type ClientClaims = Static<typeof ClientClaims>

/**
 * The claims of a delegated token (RFC 8693 token exchange, `typ: at+jwt`): `sub` is the subject's (a user, or
 * the client whose token was exchanged), `client_id` the acting client, `act` who acts (nested along a chain).
 */
export type DelegatedClaims = Omit<ClientClaims, 'sub'> & {
  sub: string
  act: Actor
  /** A user subject's session. */
  sid?: string
  /** The tokens it was exchanged from, root first: it passes only while each would (the verifier package's delegation.ts). */
  exchanged_from: ExchangedFrom[]
}

/** A token the verifier accepted, told apart by its `typ` (and, for a delegated one, its `act`). */
export type VerifiedToken = { kind: 'user'; claims: UserClaims } | { kind: 'client'; claims: ClientClaims } | { kind: 'delegated'; claims: DelegatedClaims }
