import { randomBytes } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import type { KeySet } from '../keys/key-set.js'
import type { ClientClaims, UserClaims } from '../schemas/tokens.js'

/** Signs a payload into a compact JWS with the current key (@fastify/jwt's `jwt.sign` has this shape). */
export type SignPayload = (payload: Record<string, unknown>) => string

export interface TokenIssuer {
  /** A user token (`typ: JWT`); `iss`, `aud` (DEFAULT_AUDIENCE) and a fresh `jti` are added here. */
  signUser(claims: Omit<UserClaims, 'iss' | 'jti' | 'aud'>): { token: string; claims: UserClaims }
  /** A client-credentials token (`typ: at+jwt`, RFC 9068); `iss` and a fresh `jti` are added here. */
  signClient(claims: Omit<ClientClaims, 'iss' | 'jti'>): { token: string; claims: ClientClaims }
}

/** 128 random bits: a `jti` no one can guess or collide with (RFC 7519 §4.1.7). */
const newJti = (): string => randomBytes(16).toString('base64url')

/**
 * The app signs user tokens with @fastify/jwt (plugins/auth.ts hands its `sign` in as `signUserPayload`);
 * without it (the CLIs, unit tests) the same fast-jwt signer that @fastify/jwt wraps is used.
 * Every time claim (`iat`, `exp`) comes from the caller's clock: the signers add none of their own.
 */
export function createTokenIssuer(keys: KeySet, names: { issuer: string; audience: string }, signUserPayload?: SignPayload): TokenIssuer {
  const { issuer, audience } = names
  const { signing } = keys
  const common = { key: signing.privateKey, algorithm: signing.alg, kid: signing.kid, iss: issuer }
  const signUser = signUserPayload ?? (createSigner({ ...common, header: { alg: signing.alg, typ: 'JWT' } }) as SignPayload)
  const signClient = createSigner({ ...common, header: { alg: signing.alg, typ: 'at+jwt' } }) as SignPayload

  return {
    signUser(claims) {
      const payload = { ...claims, aud: audience, jti: newJti() }
      return { token: signUser(payload), claims: { ...payload, iss: issuer } }
    },
    signClient(claims) {
      const payload = { ...claims, jti: newJti() }
      return { token: signClient(payload), claims: { ...payload, iss: issuer } }
    }
  }
}
