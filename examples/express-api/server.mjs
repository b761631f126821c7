// An Express API that verifies jwt-auth-service's user tokens itself, with the package's createVerifier:
// signatures against the service's JWKS, revocations from its feed over HTTP (a client with the
// `revocations` privilege). A logged-out or refreshed token is refused within the lag bound (250 ms).
//
//   AUTH_URL=http://127.0.0.1:3000 AUTH_ISSUER=http://localhost:3000 FEED_CLIENT_ID=orders-api \
//   FEED_CLIENT_SECRET=… node examples/express-api/server.mjs
//
// In your own service, import from the package you installed (README, "Verifying in your own service").
// The test suite runs this file (test/examples.test.ts).
import express from 'express'
import { bearerTokenOf, createVerifier, VerificationError } from '@jwt-auth-service/verifier'

const env = process.env
const verifier = createVerifier({
  issuer: env.AUTH_ISSUER ?? env.AUTH_URL,
  // The audience of user tokens: the service's DEFAULT_AUDIENCE, its ISSUER unless set.
  audience: env.API_AUDIENCE ?? env.AUTH_ISSUER ?? env.AUTH_URL,
  accept: ['user'],
  jwksUri: `${env.AUTH_URL}/.well-known/jwks.json`,
  feed: { url: `${env.AUTH_URL}/oauth/revocations`, clientId: env.FEED_CLIENT_ID, clientSecret: env.FEED_CLIENT_SECRET },
  onError: (error) => console.error(JSON.stringify({ feed: error.message }))
})
await verifier.ready()

/** Admits a request with a valid bearer token; answers 401, 403 or 503 (stale feed: never a pass) otherwise. */
async function requireToken(request, response, next) {
  // undefined: no bearer token at all; null: an Authorization header that is not `Bearer <token>`.
  const token = bearerTokenOf(request.headers.authorization)
  if (token === undefined) return void response.status(401).set('www-authenticate', 'Bearer').json({ code: 'TOKEN_MISSING' })
  if (token === null) return void response.status(401).set('www-authenticate', 'Bearer error="invalid_token"').json({ code: 'TOKEN_INVALID' })
  try {
    request.tokenClaims = await verifier.verify(token)
    next()
  } catch (error) {
    if (!(error instanceof VerificationError)) return next(error)
    if (error.statusCode === 401) response.set('www-authenticate', 'Bearer error="invalid_token"')
    if (error.statusCode === 503) response.set('retry-after', '1')
    response.status(error.statusCode).json({ code: error.code, message: error.message })
  }
}

const app = express()
app.get('/me', requireToken, (request, response) => void response.json({ sub: request.tokenClaims.sub, session: request.tokenClaims.sid }))

const server = app.listen(Number(env.PORT ?? 8080), env.HOST ?? '127.0.0.1', () => {
  console.log(JSON.stringify({ listening: server.address() }))
})
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    server.close()
    void verifier.close()
  })
}
