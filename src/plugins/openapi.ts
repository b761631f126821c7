import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import { STATUS_CODES } from 'node:http'
import fp from 'fastify-plugin'
import { ERRORS, type ErrorCode } from '../errors.js'
import { addHeaderHook } from './security-headers.js'

type Schema = { properties?: Record<string, unknown>; required?: string[]; $ref?: string }
type Response = { description?: string; content?: Record<string, { schema?: Schema; example?: unknown }> }
type Operation = { operationId?: string; security?: unknown[]; description?: string; responses?: Record<string, Response> }
type Document = { paths?: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, unknown> } }

/** The schemas every client meets again and again, shared as components and named by their fields. */
const SHARED: [name: string, fields: string][] = [
  ['Error', 'code,error,message,statusCode'],
  ['OAuthError', 'error,error_description'],
  ['User', 'created_at,email,email_verified_at,id,name,updated_at'],
  ['TokenResponse', 'access_token,expires_in,token_type']
]

/** The code an error status most often carries on a path (the rest are in ERRORS, src/errors.ts). */
function errorExample(path: string, status: number): unknown {
  if (path.startsWith('/oauth/')) {
    const error = ({ 400: 'invalid_request', 401: 'invalid_client', 403: 'unauthorized_client', 429: 'slow_down', 503: 'temporarily_unavailable' } as Record<number, string>)[status]
    return error === undefined ? undefined : { error, error_description: STATUS_CODES[status]!.toLowerCase() }
  }
  const admin = path.startsWith('/admin/')
  const byStatus: Record<number, ErrorCode> = {
    400: 'VALIDATION_FAILED',
    401: path === '/api/login' ? 'INVALID_CREDENTIALS' : admin ? 'TOKEN_INVALID' : 'TOKEN_REVOKED',
    403: 'INSUFFICIENT_SCOPE',
    404: 'NOT_FOUND',
    409: admin ? 'CLIENT_EXISTS' : 'EMAIL_TAKEN',
    413: 'BODY_TOO_LARGE',
    429: 'RATE_LIMITED',
    503: 'STORE_UNAVAILABLE'
  }
  const code = byStatus[status]
  return code === undefined ? undefined : { statusCode: status, error: STATUS_CODES[status], code, message: ERRORS[code].message }
}

/** Responses: a description per status (not "Default Response"), an example of the right error code, shared schemas. */
function tidyResponses(document: Document, path: string, operation: Operation): void {
  const schemas = (document.components ??= {}).schemas ??= {}
  for (const [status, response] of Object.entries(operation.responses ?? {})) {
    if (response.description === undefined || response.description === 'Default Response') response.description = STATUS_CODES[Number(status)] ?? status
    for (const media of Object.values(response.content ?? {})) {
      const share = (schema: Schema | undefined): Schema | undefined => {
        const fields = Object.keys(schema?.properties ?? {}).sort().join(',')
        const name = SHARED.find(([, known]) => known === fields)?.[0]
        if (name === undefined || schema === undefined) return undefined
        schemas[name] ??= schema
        return JSON.stringify(schemas[name]) === JSON.stringify(schema) ? { $ref: `#/components/schemas/${name}` } : undefined
      }
      const shared = share(media.schema)
      if (shared !== undefined) media.schema = shared
      // One level down too: register's `data` is a User.
      for (const [name, property] of Object.entries(media.schema?.properties ?? {})) {
        const reference = share(property as Schema)
        if (reference !== undefined) media.schema!.properties![name] = reference
      }
      // Only on the error bodies (/health/ready's 503 is a body of its own).
      if (Number(status) >= 400 && /\/(Error|OAuthError)$/.test(shared?.$ref ?? '')) media.example ??= errorExample(path, Number(status))
    }
  }
}

/** `get` + `/api/sessions/{id}` -> getApiSessionsId: stable, and unique per method and path. */
function operationIdOf(method: string, path: string): string {
  const words = path.split(/[^A-Za-z0-9]+/).filter(Boolean)
  return method.toLowerCase() + words.map((word) => word[0]!.toUpperCase() + word.slice(1)).join('')
}

/**
 * The document as clients and linters read it (`@redocly/cli lint` in the suite): every operation has an
 * operationId and says its security (`[]`, none, for the public routes; the client scheme on /oauth/*,
 * whose Basic credentials the UI can send), and its responses are described (tidyResponses).
 */
export function tidyDocument<T extends Document>(document: T): T {
  const paths = document.paths ?? {}
  for (const [path, operations] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      // A copy: the methods of one route (GET and POST /api/refresh) share one operation object.
      const copy = (operations[method] = {
        ...operation,
        responses: structuredClone(operation.responses),
        operationId: operation.operationId ?? operationIdOf(method, path),
        security: operation.security ?? (path.startsWith('/oauth/') ? [{ client: [] }] : [])
      })
      tidyResponses(document, path, copy)
    }
  }
  return document
}

/**
 * The OpenAPI document, generated from the route schemas (GET /docs/json), and a UI at GET /docs.
 * Registered before the routes, which it collects as they are added.
 */
export default fp(
  async function openapi(fastify) {
    await fastify.register(fastifySwagger, {
      // The generated document's types are @fastify/swagger's; tidyDocument reads only paths and operations.
      transformObject: (documents) => tidyDocument(('openapiObject' in documents ? documents.openapiObject : documents.swaggerObject) as Document) as never,
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'jwt-auth-service',
          version: '0.1.0',
          description: 'JWT authentication with instant revocation: the seed API, sessions, OAuth client credentials, gateways.'
        },
        // Relative: "Try it out" calls the address the page was loaded from (127.0.0.1, a LAN name, the public
        // URL), which the page's CSP (connect-src 'self') allows; the issuer's may be another origin.
        servers: [{ url: '/', description: `this server (tokens are issued as ${fastify.config.ISSUER})` }],
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
            client: { type: 'http', scheme: 'basic', description: 'client_secret_basic; client_secret_post is accepted too' }
          }
        }
      }
    })
    // The one page: helmet's page headers in a scope of its own, over the API set every other answer carries.
    await fastify.register(async function docsPage(docs) {
      addHeaderHook(docs, fastify.securityHeaders.page)
      await docs.register(fastifySwaggerUi, {
        routePrefix: '/docs',
        staticCSP: true,
        // Without upgrade-insecure-requests: over plain HTTP on any host but localhost it made the browser fetch
        // the page's own scripts and styles over https, and the page stayed blank. The rest of the policy stays.
        transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/g, '')
      })
    })
  },
  { name: 'openapi', dependencies: ['config', 'security-headers'] }
)
