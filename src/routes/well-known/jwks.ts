import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'

const Jwk = Type.Object(
  { kty: Type.String(), kid: Type.String(), alg: Type.String(), use: Type.Literal('sig') },
  { additionalProperties: Type.String() }
)

/** RFC 7517: the public keys that verify our tokens. Never a private or symmetric key. */
const jwks: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/.well-known/jwks.json', {
    schema: { tags: ['keys'], summary: 'Public signing keys (RFC 7517)', response: { 200: Type.Object({ keys: Type.Array(Jwk) }) } },
    handler: async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300')
      return fastify.auth.keys.jwks
    }
  })
}

export default jwks
