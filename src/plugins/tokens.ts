import { randomBytes } from 'node:crypto'
import fastifyJwt from '@fastify/jwt'
import { createSigner, createVerifier, type Algorithm } from 'fast-jwt'
import fp from 'fastify-plugin'
import { ServiceError } from '../errors.js'
import { loadKeySet } from '../keys/key-set.js'
import type { PublicJwk, SigningKey } from '../keys/signing-key.js'

/** The claims of a user token (SPEC.md "Tokens"). */
export interface UserClaims {
  iss: string
  sub: string
  iat: number
  exp: number
  jti: string
  /** Session id, kept across refreshes. */
  sid: string
  /** When the session began (seconds), kept across refreshes. */
  auth_time: number
}

/** The claims of a client-credentials token: RFC 9068 (`typ: at+jwt`). */
export interface ClientClaims {
  iss: string
  /** The client's id, as `client_id`. */
  sub: string
  client_id: string
  aud: string
  iat: number
  exp: number
  jti: string
  /** Space-separated. */
  scope: string
}

export type VerifiedToken = { kind: 'user'; claims: UserClaims } | { kind: 'client'; claims: ClientClaims }

export interface Tokens {
  readonly signingKey: SigningKey
  readonly jwks: { keys: PublicJwk[] }
  /** Signs a user token; `iss` and a fresh `jti` are added here. */
  signUserToken(claims: Omit<UserClaims, 'iss' | 'jti'>): { token: string; claims: UserClaims }
  /** Signs a client-credentials token; `iss` and a fresh `jti` are added here. */
  signClientToken(claims: Omit<ClientClaims, 'iss' | 'jti'>): { token: string; claims: ClientClaims }
  /**
   * Verifies signature (the algorithm pinned to the key its `kid` names), `typ`, `iss`, `exp` and the
   * required claims. Throws 401 TOKEN_INVALID, TOKEN_EXPIRED, or SESSION_EXPIRED for an expired user
   * token whose session has ended too.
   */
  verifyUserToken(token: string): UserClaims
  /** User or client token, told apart by `typ`. */
  verifyToken(token: string): VerifiedToken
}

declare module 'fastify' {
  interface FastifyInstance {
    tokens: Tokens
  }
}

const USER_CLAIMS = ['iss', 'sub', 'iat', 'exp', 'jti', 'sid', 'auth_time']
const CLIENT_CLAIMS = ['iss', 'sub', 'aud', 'iat', 'exp', 'jti', 'client_id', 'scope']
/** fast-jwt keeps this many verified tokens per key, so a token used again costs a lookup, not a signature check. */
const VERIFY_CACHE_SIZE = 10_000

type Verifier = (token: string) => { payload: Record<string, unknown> }

function isUserClaims(payload: Record<string, unknown>): payload is UserClaims & Record<string, unknown> {
  return (
    typeof payload.sub === 'string' &&
    typeof payload.sid === 'string' &&
    typeof payload.jti === 'string' &&
    Number.isInteger(payload.auth_time) &&
    Number.isInteger(payload.iat)
  )
}

function isClientClaims(payload: Record<string, unknown>): payload is ClientClaims & Record<string, unknown> {
  return (
    typeof payload.sub === 'string' &&
    payload.client_id === payload.sub &&
    typeof payload.jti === 'string' &&
    typeof payload.scope === 'string' &&
    Number.isInteger(payload.iat)
  )
}

/** The header or payload of a compact JWS, without verifying anything; undefined when it is not JSON. */
export function decodePart(token: string, index: 0 | 1): Record<string, unknown> | undefined {
  const part = token.split('.', 2)[index]
  if (part === undefined || part.length > 8192) return undefined
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/**
 * Keys, signing and verification. @fastify/jwt signs user tokens with the current key; verification
 * goes through one fast-jwt verifier (the engine under @fastify/jwt) per key and token type, chosen by
 * `kid` and `typ`, each pinned to its key's algorithm: an unknown kid fails before any crypto.
 */
export default fp(
  async function tokens(fastify) {
    const { config } = fastify
    const keys = loadKeySet(config)
    const signingKey = keys.signing

    await fastify.register(fastifyJwt, {
      secret: { private: signingKey.privateKey, public: signingKey.publicKey },
      // fast-jwt writes `typ: JWT` by default.
      sign: { algorithm: signingKey.alg, kid: signingKey.kid, iss: config.ISSUER }
    })
    const signClient = createSigner({
      key: signingKey.privateKey,
      algorithm: signingKey.alg,
      kid: signingKey.kid,
      header: { alg: signingKey.alg, typ: 'at+jwt' },
      iss: config.ISSUER
    })

    const verifiers = new Map<string, { user: Verifier; client: Verifier }>()
    for (const [kid, key] of keys.byKid) {
      const common = { key: key.publicKey, algorithms: [key.alg as Algorithm], allowedIss: config.ISSUER, complete: true, cache: VERIFY_CACHE_SIZE }
      verifiers.set(kid, {
        user: createVerifier({ ...common, checkTyp: 'jwt', requiredClaims: USER_CLAIMS }) as Verifier,
        client: createVerifier({ ...common, checkTyp: 'at+jwt', requiredClaims: CLIENT_CLAIMS }) as Verifier
      })
    }

    function verifierFor(token: string): { kind: 'user' | 'client'; verify: Verifier } {
      const header = decodePart(token, 0)
      const entry = typeof header?.kid === 'string' ? verifiers.get(header.kid) : undefined
      if (entry === undefined) throw new ServiceError('TOKEN_INVALID', 'the token was not signed by one of our keys')
      const typ = typeof header?.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : ''
      return typ === 'at+jwt' ? { kind: 'client', verify: entry.client } : { kind: 'user', verify: entry.user }
    }

    function run(verify: Verifier, token: string): Record<string, unknown> {
      try {
        return verify(token).payload
      } catch (error) {
        if ((error as { code?: string }).code !== 'FAST_JWT_EXPIRED') throw new ServiceError('TOKEN_INVALID')
        // The signature was checked before the expiry, so the payload can be trusted here.
        const authTime = decodePart(token, 1)?.auth_time
        if (typeof authTime === 'number' && (authTime + config.SESSION_TTL) * 1000 <= Date.now()) {
          throw new ServiceError('SESSION_EXPIRED')
        }
        throw new ServiceError('TOKEN_EXPIRED')
      }
    }

    function verifyToken(token: string): VerifiedToken {
      const { kind, verify } = verifierFor(token)
      const payload = run(verify, token)
      if (kind === 'user' && isUserClaims(payload)) return { kind, claims: payload }
      if (kind === 'client' && isClientClaims(payload)) return { kind, claims: payload }
      throw new ServiceError('TOKEN_INVALID')
    }

    fastify.decorate<Tokens>('tokens', {
      signingKey,
      jwks: keys.jwks,
      signUserToken(claims) {
        const payload = { ...claims, jti: randomBytes(16).toString('base64url') }
        return { token: fastify.jwt.sign(payload), claims: { ...payload, iss: config.ISSUER } }
      },
      signClientToken(claims) {
        const payload = { ...claims, jti: randomBytes(16).toString('base64url') }
        return { token: signClient(payload), claims: { ...payload, iss: config.ISSUER } }
      },
      verifyUserToken(token) {
        const verified = verifyToken(token)
        if (verified.kind !== 'user') throw new ServiceError('TOKEN_INVALID', 'the token is not a user token')
        return verified.claims
      },
      verifyToken
    })
  },
  { name: 'tokens', dependencies: ['config'] }
)
