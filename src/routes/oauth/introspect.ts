import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { audiencesOf } from '../../auth/verifier.js'
import { authenticateClient } from './client-auth.js'
import { ClientAuthFields, oauthErrors, TokenParameter } from './schemas.js'

const Introspection = Type.Object({
  active: Type.Boolean(),
  token_type: Type.Optional(Type.String()),
  iss: Type.Optional(Type.String()),
  sub: Type.Optional(Type.String()),
  aud: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
  client_id: Type.Optional(Type.String()),
  scope: Type.Optional(Type.String()),
  jti: Type.Optional(Type.String()),
  iat: Type.Optional(Type.Integer()),
  exp: Type.Optional(Type.Integer()),
  sid: Type.Optional(Type.String()),
  auth_time: Type.Optional(Type.Integer()),
  /** A token got by exchange (RFC 8693 §4.1): the acting client, and nested, the ones before it. */
  act: Type.Optional(Type.Object({ sub: Type.String() }, { additionalProperties: true })),
  /** RFC 9449 §6.2: the key a bound token's every use must prove. */
  cnf: Type.Optional(Type.Object({ jkt: Type.String() }))
})

/**
 * RFC 7662. A client sees its own tokens, and others with the `introspect` privilege; a token it may
 * not see, or one that is revoked, expired, foreign or malformed, is inactive.
 */
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
      reply.header('cache-control', 'no-store')
      // The token is checked while the client is authenticated: one Redis round trip for both.
      const verified = await fastify.auth.clientTokens.introspect(request.body.token, authenticateClient(fastify, request))
      if (verified === undefined) return { active: false }
      const { claims } = verified
      const audiences = audiencesOf(verified, fastify.config.DEFAULT_AUDIENCE)
      const common = {
        active: true,
        token_type: 'Bearer',
        iss: claims.iss,
        sub: claims.sub,
        aud: audiences.length === 1 ? audiences[0] : audiences,
        jti: claims.jti,
        iat: claims.iat,
        exp: claims.exp
      }
      if (verified.kind === 'client') {
        const { client_id, scope, cnf } = verified.claims
        return { ...common, client_id, scope, ...(cnf === undefined ? {} : { cnf }) }
      }
      if (verified.kind === 'delegated') {
        const { client_id, scope, act, sid, cnf } = verified.claims
        return { ...common, client_id, scope, act, ...(sid === undefined ? {} : { sid }), ...(cnf === undefined ? {} : { cnf }) }
      }
      const { sid, auth_time, cnf } = verified.claims
      return { ...common, sid, auth_time, ...(cnf === undefined ? {} : { cnf }) }
    }
  })
}

export default introspect
