import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ServiceError } from '../../errors.js'
import { authenticateClient } from './client-auth.js'
import { ClientAuthFields, oauthErrors, TokenParameter } from './schemas.js'

const Introspection = Type.Object({
  active: Type.Boolean(),
  token_type: Type.Optional(Type.String()),
  iss: Type.Optional(Type.String()),
  sub: Type.Optional(Type.String()),
  aud: Type.Optional(Type.String()),
  client_id: Type.Optional(Type.String()),
  scope: Type.Optional(Type.String()),
  jti: Type.Optional(Type.String()),
  iat: Type.Optional(Type.Integer()),
  exp: Type.Optional(Type.Integer()),
  sid: Type.Optional(Type.String()),
  auth_time: Type.Optional(Type.Integer())
})

/** RFC 7662. Any registered client may ask; a token that is revoked, expired, foreign or malformed is inactive. */
const introspect: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/oauth/introspect', {
    schema: {
      tags: ['oauth'],
      summary: 'Token introspection (RFC 7662)',
      consumes: ['application/x-www-form-urlencoded'],
      body: Type.Object({ ...TokenParameter, ...ClientAuthFields }),
      response: { 200: Introspection, ...oauthErrors }
    },
    handler: async (request, reply) => {
      await authenticateClient(fastify, request.headers.authorization, request.body)
      reply.header('cache-control', 'no-store')
      try {
        const verified = await fastify.auth.verifier.verify(request.body.token)
        const { claims } = verified
        const common = { active: true, token_type: 'Bearer', iss: claims.iss, sub: claims.sub, jti: claims.jti, iat: claims.iat, exp: claims.exp }
        if (verified.kind === 'client') {
          return { ...common, aud: verified.claims.aud, client_id: verified.claims.client_id, scope: verified.claims.scope }
        }
        return { ...common, sid: verified.claims.sid, auth_time: verified.claims.auth_time }
      } catch (error) {
        // A token we cannot vouch for is inactive; a store we cannot reach is still a 503.
        if (error instanceof ServiceError && error.statusCode === 401) return { active: false }
        throw error
      }
    }
  })
}

export default introspect
