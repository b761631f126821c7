import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ServiceError } from '../errors.js'
import type { UserClaims } from './tokens.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: bearer token -> signature and claims -> revocation check (one round trip) -> request.auth. */
    authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void>
    /** preHandler for refresh: signature and claims only; the atomic rotation decides on revocation. */
    verifyBearer(request: FastifyRequest, reply: FastifyReply): Promise<void>
  }
  interface FastifyRequest {
    auth: { token: string; claims: UserClaims } | null
  }
}

/** RFC 6750 §2.1; the scheme is case-insensitive (RFC 9110 §11.1). */
const BEARER = /^bearer +(\S+) *$/i

export default fp(
  async function authenticate(fastify) {
    fastify.decorateRequest('auth', null)

    function verify(request: FastifyRequest): { token: string; claims: UserClaims } {
      const header = request.headers.authorization
      if (header === undefined || !/^bearer\b/i.test(header)) throw new ServiceError('TOKEN_MISSING')
      const token = BEARER.exec(header)?.[1]
      if (token === undefined) throw new ServiceError('TOKEN_INVALID', 'the Authorization header is not "Bearer <token>"')
      return { token, claims: fastify.tokens.verifyUserToken(token) }
    }

    fastify.decorate('verifyBearer', async function verifyBearer(request: FastifyRequest) {
      request.auth = verify(request)
    })

    fastify.decorate('authenticate', async function authenticate(request: FastifyRequest) {
      const auth = verify(request)
      if ((await fastify.revocations.check(auth.claims)) !== 'active') throw new ServiceError('TOKEN_REVOKED')
      request.auth = auth
    })
  },
  { name: 'authenticate', dependencies: ['tokens', 'stores'] }
)
