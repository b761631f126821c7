import { randomBytes } from 'node:crypto'
import fastifyJwt from '@fastify/jwt'
import fp from 'fastify-plugin'
import { ServiceError } from '../errors.js'
import { loadSigningKey, type PublicJwk, type SigningKey } from '../keys/signing-key.js'

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

export interface Tokens {
  readonly signingKey: SigningKey
  readonly jwks: { keys: PublicJwk[] }
  /** Signs a user token; `iss` and a fresh `jti` are added here. */
  signUserToken(claims: Omit<UserClaims, 'iss' | 'jti'>): { token: string; claims: UserClaims }
  /**
   * Verifies signature (pinned algorithm), `kid`, `typ`, `iss`, `exp` and the required claims.
   * Throws 401 TOKEN_INVALID, TOKEN_EXPIRED, or SESSION_EXPIRED for an expired token whose session has ended too.
   */
  verifyUserToken(token: string): UserClaims
}

declare module 'fastify' {
  interface FastifyInstance {
    tokens: Tokens
  }
}

const USER_CLAIMS = ['iss', 'sub', 'iat', 'exp', 'jti', 'sid', 'auth_time'] as const
/** fast-jwt keeps this many verified tokens, so a token used again costs a lookup, not an ECDSA verify. */
const VERIFY_CACHE_SIZE = 10_000

function hasUserClaimTypes(payload: Record<string, unknown>): payload is UserClaims & Record<string, unknown> {
  return (
    typeof payload.sub === 'string' &&
    typeof payload.sid === 'string' &&
    typeof payload.jti === 'string' &&
    Number.isInteger(payload.auth_time) &&
    Number.isInteger(payload.iat)
  )
}

export default fp(
  async function tokens(fastify) {
    const { config } = fastify
    const signingKey = loadSigningKey(config)

    await fastify.register(fastifyJwt, {
      secret: { private: signingKey.privateKey, public: signingKey.publicKey },
      // fast-jwt writes `typ: JWT` by default.
      sign: { algorithm: signingKey.alg, kid: signingKey.kid, iss: config.ISSUER },
      verify: {
        // Pinned: never `none`, never an HMAC token checked against a public key.
        algorithms: [signingKey.alg],
        allowedIss: config.ISSUER,
        requiredClaims: [...USER_CLAIMS],
        complete: true,
        cache: VERIFY_CACHE_SIZE
      }
    })

    function verifyUserToken(token: string): UserClaims {
      let verified: { header: { kid?: unknown; typ?: unknown }; payload: Record<string, unknown> }
      try {
        verified = fastify.jwt.verify(token)
      } catch (error) {
        if ((error as { code?: string }).code === 'FAST_JWT_EXPIRED') {
          // The signature was checked before the expiry, so the payload can be trusted here.
          const payload = (fastify.jwt.decode<Partial<UserClaims>>(token) as Partial<UserClaims> | null) ?? {}
          const sessionEnd = (payload.auth_time ?? 0) + config.SESSION_TTL
          if (sessionEnd * 1000 <= Date.now()) throw new ServiceError('SESSION_EXPIRED')
          throw new ServiceError('TOKEN_EXPIRED')
        }
        throw new ServiceError('TOKEN_INVALID')
      }
      const { header, payload } = verified
      if (header.kid !== signingKey.kid) throw new ServiceError('TOKEN_INVALID', 'the token was signed by an unknown key')
      if (typeof header.typ !== 'string' || header.typ.toUpperCase() !== 'JWT') {
        throw new ServiceError('TOKEN_INVALID', 'the token is not a user token')
      }
      if (!hasUserClaimTypes(payload)) throw new ServiceError('TOKEN_INVALID')
      return payload
    }

    fastify.decorate<Tokens>('tokens', {
      signingKey,
      jwks: { keys: signingKey.publicJwk === undefined ? [] : [signingKey.publicJwk] },
      signUserToken(claims) {
        const jti = randomBytes(16).toString('base64url')
        const payload = { ...claims, jti }
        const token = fastify.jwt.sign(payload)
        return { token, claims: { ...payload, iss: config.ISSUER } }
      },
      verifyUserToken
    })
  },
  { name: 'tokens', dependencies: ['config'] }
)
