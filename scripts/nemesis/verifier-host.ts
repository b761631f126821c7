import { createServer } from 'node:http'
import { createVerifier, VerificationError, type FeedSource, type TokenKind } from '@jwt-auth-service/verifier'

/**
 * The verifier library in a process of its own, as a downstream service runs it, so that it can be
 * paused (SIGSTOP), killed and restarted: `GET /verify` with `Authorization: Bearer <token>` answers 200
 * with the claims, or the VerificationError's status and code; `GET /lag` the feed's lag.
 *
 * Env: ISSUER, AUDIENCE (comma-separated), ACCEPT [user,client], JWKS_URI, FEED (JSON: { redisUrl, keyPrefix }
 * or { url, clientId, clientSecret }),
 * MAX_LAG_MS [250], PORT [0]. Prints one line, {"port":<port>}, once it listens (before the feed is fresh).
 */
const env = process.env
const verifier = createVerifier({
  issuer: env.ISSUER!,
  audience: (env.AUDIENCE ?? env.ISSUER!).split(','),
  accept: (env.ACCEPT ?? 'user,client').split(',') as TokenKind[],
  jwksUri: env.JWKS_URI,
  feed: JSON.parse(env.FEED!) as FeedSource,
  maxLagMs: Number(env.MAX_LAG_MS ?? 250),
  onError: (error) => console.error(JSON.stringify({ feedError: error.message }))
})

const server = createServer((request, response) => {
  const reply = (status: number, body: unknown): void => {
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }
  if (request.url === '/lag') return reply(200, { lag_ms: verifier.lagMs() })
  const token = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1]
  if (request.url !== '/verify' || token === undefined) return reply(400, { code: 'BAD_REQUEST' })
  verifier.verify(token).then(
    (claims) => reply(200, { sub: claims.sub }),
    (error: unknown) => {
      if (!(error instanceof VerificationError)) return reply(500, { code: 'INTERNAL' })
      // As the Fastify plugin answers: a 503 says when to ask again.
      if (error.statusCode === 503) response.setHeader('retry-after', '1')
      reply(error.statusCode, { code: error.code, message: error.message })
    }
  )
})
server.keepAliveTimeout = 60_000
server.listen(Number(env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address()
  console.log(JSON.stringify({ port: typeof address === 'object' && address !== null ? address.port : 0 }))
})
const stop = (): void => {
  server.close()
  void verifier.close().then(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
