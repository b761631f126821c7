/**
 * The admin API (README, "Admin API"): clients and accounts, on the management listener only, for an
 * operator who has no shell in a pod. Authenticated by the bearer token in ADMIN_TOKEN_FILE; every call,
 * refused ones included, leaves one audit line naming the operation and its target, never a secret.
 */
import fastifySwagger from '@fastify/swagger'
import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ConfigError, type Config } from '../../config.js'
import { ServiceError } from '../../errors.js'
import { tidyDocument } from '../../plugins/openapi.js'
import clients from './clients.js'
import users from './users.js'

/** 256 bits as base64 is 43 characters; anything much shorter is guessable over a port that answers fast. */
const MIN_TOKEN_LENGTH = 32

/** The admin token from ADMIN_TOKEN_FILE, read once at boot (restart to change it); undefined when the admin API is off. */
export function readAdminToken(config: Pick<Config, 'ADMIN_TOKEN_FILE'>): string | undefined {
  const file = config.ADMIN_TOKEN_FILE
  if (file === undefined) return undefined
  let token: string
  try {
    token = readFileSync(file, 'utf8').trim()
  } catch (error) {
    throw new ConfigError(`invalid setting ADMIN_TOKEN_FILE=${JSON.stringify(file)}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`)
  }
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new ConfigError(`invalid setting ADMIN_TOKEN_FILE=${JSON.stringify(file)}: the token must be one line of at least ${MIN_TOKEN_LENGTH} characters without spaces (openssl rand -base64 32)`)
  }
  return token
}

/** Constant-time: fixed-length digests are compared, so neither the content nor the length of the token leaks. */
function tokenMatches(presented: string, expectedDigest: Buffer): boolean {
  return timingSafeEqual(createHash('sha256').update(presented, 'utf8').digest(), expectedDigest)
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The admin operation a route performs, for the audit line: `clients.create`, `users.disable`… */
    audit?: string
  }
}

type Schema = { type?: unknown; properties?: Record<string, Schema>; additionalProperties?: unknown }

/**
 * The members of `value` that a closed object schema does not name, as paths: the app drops unknown members
 * (ajv's removeAdditional), but an operator's typo (`scopes`, `jwks_url`) must not be an update that changes nothing.
 */
function unknownMembers(value: unknown, schema: Schema | undefined, path: string): string[] {
  if (schema?.type !== 'object' || schema.additionalProperties !== false || typeof value !== 'object' || value === null || Array.isArray(value)) return []
  return Object.entries(value).flatMap(([name, member]) => {
    const memberSchema = schema.properties?.[name]
    return memberSchema === undefined ? [`${path}/${name}`] : unknownMembers(member, memberSchema, `${path}/${name}`)
  })
}

/** What the audit line names: the client or account in the path, or the client a create asks for. */
function targetOf(request: FastifyRequest): string | undefined {
  const params = request.params as Record<string, string> | undefined
  const body = request.body as Record<string, unknown> | undefined
  const target = params?.client_id ?? params?.account ?? body?.client_id
  return typeof target === 'string' ? target.slice(0, 255) : undefined
}

export default async function admin(fastify: FastifyInstance, options: { token: string }): Promise<void> {
  const expected = createHash('sha256').update(options.token, 'utf8').digest()

  // A document of its own: the public /docs never lists these routes, and this one only them.
  await fastify.register(fastifySwagger, {
    transformObject: (documents) => tidyDocument(('openapiObject' in documents ? documents.openapiObject : documents.swaggerObject) as never) as never,
    openapi: {
      openapi: '3.1.0',
      info: { title: 'jwt-auth-service admin API', version: '0.1.0', description: 'Clients and accounts, on the management port only (README, "Admin API").' },
      servers: [{ url: '/' }],
      components: { securitySchemes: { admin: { type: 'http', scheme: 'bearer', description: 'the token in ADMIN_TOKEN_FILE' } } }
    }
  })
  fastify.get('/admin/openapi.json', { schema: { hide: true } }, async () => fastify.swagger())

  await fastify.register(async function authenticated(scope) {
    scope.addHook('onRequest', async (request: FastifyRequest) => {
      const header = request.headers.authorization ?? ''
      const match = /^Bearer +(\S+)$/i.exec(header)
      if (match === null) throw new ServiceError('TOKEN_MISSING', 'the admin API needs Authorization: Bearer <the token in ADMIN_TOKEN_FILE>')
      if (!tokenMatches(match[1]!, expected)) throw new ServiceError('TOKEN_INVALID', 'the admin token is not valid')
    })
    scope.addHook('preValidation', async (request: FastifyRequest) => {
      const unknown = unknownMembers(request.body, request.routeOptions.schema?.body as Schema | undefined, 'body')
      if (unknown.length > 0) throw new ServiceError('VALIDATION_FAILED', `unknown member ${unknown.slice(0, 5).map((name) => name.slice(0, 100)).join(', ')}`)
    })
    // onSend rather than onResponse: the line is written even when the caller hangs up before the answer.
    scope.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply) => {
      const operation = request.routeOptions.config.audit
      if (operation === undefined) return
      // The shape of the security events' lines (plugins/security-events.ts), so that one filter on audit.event sees both.
      const event = `admin.${operation}`
      request.log.info({ audit: { event, ip: request.ip, target: targetOf(request), status: reply.statusCode } }, event)
    })
    await scope.register(clients)
    await scope.register(users)
  })
}
