import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest, HTTPMethods } from 'fastify'
import Type from 'typebox'
import { ServiceError } from '../errors.js'
import { dpopRefusal } from '../auth/dpop.js'
import { AudienceMismatchError } from '../auth/verifier.js'
import { presentedToken, type OriginalRequest } from '../plugins/auth.js'
import { trustedPeer } from '../settings/network.js'
import { missingScopes } from '@jwt-auth-service/verifier/feed'
import { isResourceIndicator, parseScopes } from '../schemas/clients.js'
import { bearerErrors, ErrorResponse } from '../schemas/common.js'

/**
 * Forward auth for gateways (nginx auth_request, Traefik forwardAuth, Envoy ext_authz): 200 with the
 * token's identity in X-Auth-* headers, 401 with WWW-Authenticate, 403 when a scope the gateway asks
 * for (`?scope=a b`) is missing, 503 when the token cannot be checked. Every method is accepted,
 * since gateways forward the original one, and any path below /auth/verify/, since Envoy appends the
 * original path to the one it is given.
 *
 * The token must be meant for the upstream (RFC 8725 §3.9): the gateway names the audience it expects
 * per upstream (`?audience=` or `X-Auth-Audience`), DEFAULT_AUDIENCE otherwise.
 */
/** RFC 6750 §3: scope-tokens (printable ASCII but space, `"` and `\`) separated by spaces. */
const SCOPE_LIST = '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+( +[\\x21\\x23-\\x5B\\x5D-\\x7E]+)*$'

/** The audience the gateway asks for: from the query or the header (the same one if both), else DEFAULT_AUDIENCE. */
function expectedAudience(fromQuery: string | undefined, header: string | string[] | undefined, fallback: string): string {
  if (Array.isArray(header)) throw new ServiceError('VALIDATION_FAILED', 'headers/x-auth-audience appears more than once')
  if (fromQuery !== undefined && header !== undefined && fromQuery !== header) {
    throw new ServiceError('VALIDATION_FAILED', 'querystring/audience and headers/x-auth-audience differ')
  }
  const audience = fromQuery ?? header
  if (audience === undefined) return fallback
  if (!isResourceIndicator(audience)) {
    const where = fromQuery !== undefined ? 'querystring/audience' : 'headers/x-auth-audience'
    throw new ServiceError('VALIDATION_FAILED', `${where} must be an absolute URI without a fragment`)
  }
  return audience
}

const OTHER_METHODS: HTTPMethods[] = ['HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

/** A header a gateway sets once; undefined when absent, repeated or empty. */
function single(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name]
  return typeof value === 'string' && value !== '' ? value : undefined
}

/**
 * The request the gateway checks, as the client made it: X-Forwarded-Method, -Proto, -Host and -Uri (Traefik,
 * Caddy) or X-Original-Method and X-Original-URL (nginx). Read only from a peer TRUST_PROXY trusts: anyone else
 * could name the request a stolen proof was made for.
 */
function originalRequest(request: FastifyRequest, trusted: (address: string) => boolean): OriginalRequest | undefined {
  if (!trusted(request.socket.remoteAddress ?? '')) return undefined
  const method = single(request, 'x-forwarded-method') ?? single(request, 'x-original-method')
  const proto = single(request, 'x-forwarded-proto')
  const host = single(request, 'x-forwarded-host')
  const uri = single(request, 'x-forwarded-uri')
  const url = single(request, 'x-original-url') ?? (proto !== undefined && host !== undefined && uri !== undefined ? `${proto}://${host}${uri}` : undefined)
  return method === undefined || url === undefined ? undefined : { method, url }
}

const authVerify: FastifyPluginAsyncTypebox = async (fastify) => {
  const trusted = trustedPeer(fastify.config.TRUST_PROXY)
  // The document shows one operation, GET /auth/verify (its description says the rest); the other methods and the
  // paths below it answer alike but stay out of it. GET's own HEAD route is one of the others.
  const routes: { method: HTTPMethods | HTTPMethods[]; url: string; hide: boolean }[] = [
    { method: 'GET', url: '/auth/verify', hide: false },
    { method: OTHER_METHODS, url: '/auth/verify', hide: true },
    { method: ['GET', ...OTHER_METHODS], url: '/auth/verify/*', hide: true }
  ]
  for (const { method, url, hide } of routes) {
    fastify.route({
      method,
      url,
      exposeHeadRoute: false,
      // The gateway's hot path: no per-request log lines (errors and warnings still are).
      logLevel: 'warn',
      schema: {
        hide,
        tags: ['gateways'],
        summary: 'Forward-auth: is this bearer token valid right now?',
        description:
          'Any method, and any path below /auth/verify/, is answered alike: gateways forward the original method, and Envoy appends the original path.',
        security: [{ bearer: [] }],
        querystring: Type.Object({
          scope: Type.Optional(Type.String({ maxLength: 2000, pattern: SCOPE_LIST, description: 'space-separated scopes the token must carry' })),
          audience: Type.Optional(Type.String({ maxLength: 2000, description: 'the audience the upstream expects (default: DEFAULT_AUDIENCE); also X-Auth-Audience' }))
        }),
        response: { 200: Type.Object({ sub: Type.String() }), 400: ErrorResponse, 403: ErrorResponse, ...bearerErrors }
      },
      handler: async (request, reply) => {
        const audience = expectedAudience(request.query.audience, request.headers['x-auth-audience'], fastify.config.DEFAULT_AUDIENCE)
        const presented = presentedToken(request)
        const verified = await fastify.auth.verifier.verify(presented.token, { audience }).catch((error: unknown) => {
          if (error instanceof AudienceMismatchError) {
            request.log.warn({ reason: 'audience', expected: error.expected, audiences: error.audiences }, 'token refused: meant for another audience')
          }
          throw error
        })
        // A bound token (DPoP): the proof is checked against the request the gateway forwards, and spent here: the
        // gate is the enforcement point for upstreams that check nothing (README, "Stolen tokens that don't work").
        const { cnf } = verified.claims
        if (cnf !== undefined || presented.scheme === 'dpop') {
          const original = originalRequest(request, trusted)
          if (cnf !== undefined && original === undefined) {
            throw dpopRefusal('the token is bound to a key (DPoP), and the gateway forwards no original method and URL to check the proof against')
          }
          await fastify.proveBinding(request, presented, { cnf }, original)
        }
        const granted = verified.kind === 'user' ? '' : verified.claims.scope
        const required = parseScopes(request.query.scope ?? '')
        const missing = missingScopes(granted, required)
        if (missing.length > 0) {
          // RFC 6750 §3.1.
          const challenge = `Bearer realm="jwt-auth-service", error="insufficient_scope", scope="${required.join(' ')}"`
          throw new ServiceError('INSUFFICIENT_SCOPE', `the token lacks ${missing.join(' ')}`, { 'www-authenticate': challenge })
        }
        reply.headers({
          'x-auth-subject': verified.claims.sub,
          'x-auth-session': verified.kind === 'client' ? '' : (verified.claims.sid ?? ''),
          'x-auth-scope': granted,
          'x-auth-client': verified.kind === 'user' ? '' : verified.claims.client_id,
          // RFC 8693 §4.1: the client acting for the subject, on a token got by exchange.
          'x-auth-actor': verified.kind === 'delegated' ? verified.claims.act.sub : '',
          // RFC 9449 §6.1: the key the request proved, for an upstream that keeps per-key state.
          'x-auth-key-thumbprint': cnf?.jkt ?? '',
          'cache-control': 'no-store'
        })
        return { sub: verified.claims.sub }
      }
    })
  }
}

export default authVerify
