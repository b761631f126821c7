import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ServiceError } from '../errors.js'
import { bearerToken } from '../plugins/auth.js'
import { parseScopes } from '../schemas/clients.js'
import { bearerErrors, ErrorResponse } from '../schemas/common.js'

/**
 * Forward auth for gateways (nginx auth_request, Traefik forwardAuth, Envoy ext_authz): 200 with the
 * token's identity in X-Auth-* headers, 401 with WWW-Authenticate, 403 when a scope the gateway asks
 * for (`?scope=a b`) is missing, 503 when the token cannot be checked. Every method is accepted,
 * since gateways forward the original one, and any path below /auth/verify/, since Envoy appends the
 * original path to the one it is given.
 */
const authVerify: FastifyPluginAsyncTypebox = async (fastify) => {
  for (const url of ['/auth/verify', '/auth/verify/*']) {
    fastify.route({
      method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      url,
      // The gateway's hot path: no per-request log lines (errors and warnings still are).
      logLevel: 'warn',
      schema: {
        tags: ['gateways'],
        summary: 'Forward-auth: is this bearer token valid right now?',
        security: [{ bearer: [] }],
        querystring: Type.Object({ scope: Type.Optional(Type.String({ maxLength: 2000, description: 'space-separated scopes the token must carry' })) }),
        response: { 200: Type.Object({ sub: Type.String() }), 400: ErrorResponse, 403: ErrorResponse, ...bearerErrors }
      },
      handler: async (request, reply) => {
        const verified = await fastify.auth.verifier.verify(bearerToken(request))
        const granted = verified.kind === 'client' ? verified.claims.scope : ''
        const required = parseScopes(request.query.scope ?? '')
        if (required.length > 0) {
          const have = new Set(parseScopes(granted))
          const missing = required.filter((scope) => !have.has(scope))
          if (missing.length > 0) {
            // RFC 6750 §3.1.
            const challenge = `Bearer realm="jwt-auth-service", error="insufficient_scope", scope="${required.join(' ')}"`
            throw new ServiceError('INSUFFICIENT_SCOPE', `the token lacks ${missing.join(' ')}`, { 'www-authenticate': challenge })
          }
        }
        reply.headers({
          'x-auth-subject': verified.claims.sub,
          'x-auth-session': verified.kind === 'user' ? verified.claims.sid : '',
          'x-auth-scope': granted,
          'x-auth-client': verified.kind === 'client' ? verified.claims.client_id : '',
          'cache-control': 'no-store'
        })
        return { sub: verified.claims.sub }
      }
    })
  }
}

export default authVerify
