// A Fastify API that verifies jwt-auth-service's user tokens itself, with the package's plugin: signatures
// against the service's JWKS, revocations from its feed over HTTP (a client with the `revocations` privilege).
// A logged-out or refreshed token is refused here within the lag bound (250 ms), with no call per request.
//
//   AUTH_URL=http://127.0.0.1:3000 AUTH_ISSUER=http://localhost:3000 FEED_CLIENT_ID=orders-api \
//   FEED_CLIENT_SECRET=… node examples/fastify-api/server.mjs
//
// In your own service, import from the package you installed (README, "Verifying in your own service").
// The test suite runs this file (test/examples.test.ts).
import Fastify from 'fastify'
import jwtAuth from '@jwt-auth-service/verifier/fastify'

const env = process.env
const app = Fastify({ logger: { level: env.LOG_LEVEL ?? 'info' } })
await app.register(jwtAuth, {
  issuer: env.AUTH_ISSUER ?? env.AUTH_URL,
  // The audience of user tokens: the service's DEFAULT_AUDIENCE, its ISSUER unless set.
  audience: env.API_AUDIENCE ?? env.AUTH_ISSUER ?? env.AUTH_URL,
  accept: ['user'],
  jwksUri: `${env.AUTH_URL}/.well-known/jwks.json`,
  feed: { url: `${env.AUTH_URL}/oauth/revocations`, clientId: env.FEED_CLIENT_ID, clientSecret: env.FEED_CLIENT_SECRET }
})

app.get('/me', { preHandler: app.requireToken() }, async (request) => ({ sub: request.tokenClaims.sub, session: request.tokenClaims.sid }))

await app.listen({ port: Number(env.PORT ?? 8080), host: env.HOST ?? '127.0.0.1' })
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void app.close())
