import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ServiceError } from '../errors.js'
import type { UserClaims, VerifiedToken } from './tokens.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler for user routes: bearer token -> signature and claims -> revocation check (one round trip) -> request.auth. */
    authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void>
    /** preHandler for refresh: signature and claims only; the atomic rotation decides on revocation. */
    verifyBearer(request: FastifyRequest, reply: FastifyReply): Promise<void>
    /** A user or client token, verified and checked against the revocation store; throws a 401 ServiceError. */
    checkAccessToken(token: string): Promise<VerifiedToken>
  }
  interface FastifyRequest {
    auth: { token: string; claims: UserClaims } | null
  }
}

/** RFC 6750 §2.1; the scheme is case-insensitive (RFC 9110 §11.1). */
const BEARER = /^bearer +(\S+) *$/i

/** The token of `Authorization: Bearer <token>`; 401 TOKEN_MISSING or TOKEN_INVALID otherwise. */
export function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization
  if (header === undefined || !/^bearer\b/i.test(header)) throw new ServiceError('TOKEN_MISSING')
  const token = BEARER.exec(header)?.[1]
  if (token === undefined) throw new ServiceError('TOKEN_INVALID', 'the Authorization header is not "Bearer <token>"')
  return token
}

export default fp(
  async function authenticate(fastify) {
    const { tokens, revocations } = fastify
    fastify.decorateRequest('auth', null)

    fastify.decorate('verifyBearer', async function verifyBearer(request: FastifyRequest) {
      const token = bearerToken(request)
      request.auth = { token, claims: tokens.verifyUserToken(token) }
    })

    fastify.decorate('authenticate', async function authenticate(request: FastifyRequest) {
      const token = bearerToken(request)
      const claims = tokens.verifyUserToken(token)
      if ((await revocations.check(claims)) !== 'active') throw new ServiceError('TOKEN_REVOKED')
      request.auth = { token, claims }
    })

    fastify.decorate('checkAccessToken', async function checkAccessToken(token: string) {
      const verified = tokens.verifyToken(token)
      const status = verified.kind === 'user' ? await revocations.check(verified.claims) : await revocations.checkClientToken(verified.claims)
      if (status !== 'active') throw new ServiceError('TOKEN_REVOKED')
      return verified
    })
  },
  { name: 'authenticate', dependencies: ['tokens', 'stores'] }
)
