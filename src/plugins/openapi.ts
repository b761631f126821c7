import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'

/**
 * The OpenAPI document, generated from the route schemas (GET /docs/json), and a UI at GET /docs.
 * Registered before the routes, which it collects as they are added.
 */
export default fp(
  async function openapi(fastify) {
    await fastify.register(fastifySwagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'jwt-auth-service',
          version: '0.1.0',
          description: 'JWT authentication with instant revocation: the seed API, sessions, OAuth client credentials, gateways.'
        },
        servers: [{ url: fastify.config.ISSUER }],
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
            client: { type: 'http', scheme: 'basic', description: 'client_secret_basic; client_secret_post is accepted too' }
          }
        }
      }
    })
    await fastify.register(fastifySwaggerUi, { routePrefix: '/docs', staticCSP: true })
  },
  { name: 'openapi', dependencies: ['config'] }
)
