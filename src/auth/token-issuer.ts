import { randomBytes } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import type { KeySet } from '../keys/key-set.js'
import type { ClientClaims, DelegatedClaims, UserClaims } from '../schemas/tokens.js'

/** Signs a payload into a compact JWS with the current key (@fastify/jwt's `jwt.sign` has this shape). */
export type SignPayload = (payload: Record<string, unknown>) => string

export interface TokenIssuer {
  /** A user token (`typ: JWT`); `iss`, `aud` (DEFAULT_AUDIENCE) and a fresh `jti` are added here. */
  /** `jti`: given when the store must know it before the token is signed (a session's first token); fresh otherwise. */
  signUser(claims: Omit<UserClaims, 'iss' | 'jti' | 'aud'> & { jti?: string }): { token: string; claims: UserClaims }
  /** A client-credentials token (`typ: at+jwt`, RFC 9068); `iss` and a fresh `jti` are added here. */
  signClient(claims: Omit<ClientClaims, 'iss' | 'jti'>): { token: string; claims: ClientClaims }
  /** A delegated token (token exchange, RFC 8693): an access token as a client's (`typ: at+jwt`), with `act`. */
  signDelegated(claims: Omit<DelegatedClaims, 'iss' | 'jti'>): { token: string; claims: DelegatedClaims }
}

/** 128 random bits: a `jti` no one can guess or collide with (RFC 7519 §4.1.7). */
export const newJti = (): string => randomBytes(16).toString('base64url')

/**
 * How a user token is signed: fast-jwt's signer options, which @fastify/jwt takes as its `sign` options
 * (plugins/auth.ts) and createTokenIssuer uses as they are, so both sign alike. `typ: JWT` is fast-jwt's
 * default header; the key is @fastify/jwt's `secret` there.
 */
export function userSignOptions(keys: KeySet, issuer: string): { algorithm: KeySet['signing']['alg']; kid: string; iss: string; header: { alg: KeySet['signing']['alg']; typ: 'JWT' } } {
  const { alg, kid } = keys.signing
  return { algorithm: alg, kid, iss: issuer, header: { alg, typ: 'JWT' } }
}

/**
 * The app signs user tokens with @fastify/jwt (plugins/auth.ts hands its `sign` in as `signUserPayload`);
 * without it (the CLIs, unit tests) fast-jwt, which @fastify/jwt wraps, signs with the same options.
 * Every time claim (`iat`, `exp`) comes from the caller's clock: the signers add none of their own.
 */
export function createTokenIssuer(keys: KeySet, names: { issuer: string; audience: string }, signUserPayload?: SignPayload): TokenIssuer {
  const { issuer, audience } = names
  const { signing } = keys
  const signUser = signUserPayload ?? (createSigner({ key: signing.privateKey, ...userSignOptions(keys, issuer) }) as SignPayload)
  const signClient = createSigner({ key: signing.privateKey, algorithm: signing.alg, kid: signing.kid, iss: issuer, header: { alg: signing.alg, typ: 'at+jwt' } }) as SignPayload

  return {
    signUser(claims) {
      const payload = { ...claims, aud: audience, jti: claims.jti ?? newJti() }
      return { token: signUser(payload), claims: { ...payload, iss: issuer } }
    },
    signClient: signAccessToken,
    // The same access-token profile (RFC 9068): only the claims differ.
    signDelegated: signAccessToken
  }

  function signAccessToken<T extends { jti: string; iss: string }>(claims: Omit<T, 'iss' | 'jti'>): { token: string; claims: T } {
    const payload = { ...claims, jti: newJti() }
    return { token: signClient(payload), claims: { ...payload, iss: issuer } as unknown as T }
  }
}
