/**
 * Generic JWT libraries, configured the ordinary way for this service's user tokens (issuer, audience,
 * JWKS, algorithm), none of which checks `typ`: each accepts a user token and refuses a client token,
 * because a client token is never for DEFAULT_AUDIENCE (README, "For service owners").
 */
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { auth as expressJwtBearer } from 'express-oauth2-jwt-bearer'
import Fastify, { type FastifyRequest } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import buildGetJwks from 'get-jwks'
import jwt from 'jsonwebtoken'
import jwksRsa from 'jwks-rsa'
import { test } from 'tap'
import { assertOAuthError, basic, buildTestApp, createClient, form, registerAndLogin, type TestContext } from '../helper.js'

const ISSUER = 'http://auth.test'
/** DEFAULT_AUDIENCE: the issuer, as the tests' settings leave it. */
const USER_AUDIENCE = ISSUER

/** A check of `token` by one library: 'accepted', or what it said when it refused. */
type Check = (token: string) => Promise<string>

function jsonwebtokenWithJwksRsa(jwksUri: string): Check {
  const keys = jwksRsa({ jwksUri, cache: true })
  const key: jwt.GetPublicKeyOrSecret = (header, callback) => {
    keys.getSigningKey(header.kid).then((signing) => callback(null, signing.getPublicKey()), (error: Error) => callback(error))
  }
  return (token) =>
    new Promise((resolve) => {
      jwt.verify(token, key, { issuer: ISSUER, audience: USER_AUDIENCE, algorithms: ['ES256'] }, (error) => resolve(error === null ? 'accepted' : error.message))
    })
}

async function fastifyJwtWithGetJwks(t: TestContext, serviceUrl: string): Promise<Check> {
  const getJwks = buildGetJwks({ providerDiscovery: false, jwksPath: '/.well-known/jwks.json' })
  const api = Fastify()
  t.teardown(() => api.close())
  await api.register(fastifyJwt, {
    decode: { complete: true },
    // The token's `iss` names no reachable host in these tests: the keys come from the service's URL.
    secret: (_request: FastifyRequest, token: unknown) => {
      const { header } = token as { header: { kid: string; alg: string } }
      return getJwks.getPublicKey({ kid: header.kid, alg: header.alg, domain: serviceUrl })
    },
    verify: { allowedIss: ISSUER, allowedAud: USER_AUDIENCE, algorithms: ['ES256'] }
  })
  api.get('/me', async (request) => {
    await request.jwtVerify()
    return { accepted: true }
  })
  return async (token) => {
    const response = await api.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
    return response.statusCode === 200 ? 'accepted' : `${response.statusCode} ${response.json().message as string}`
  }
}

async function expressOauth2JwtBearer(t: TestContext, jwksUri: string): Promise<Check> {
  const api = express()
  api.use(expressJwtBearer({ issuer: ISSUER, audience: USER_AUDIENCE, jwksUri, tokenSigningAlg: 'ES256' }))
  api.get('/me', (_request, response) => void response.json({ accepted: true }))
  // Its refusals as they are sent, without express' default handler printing each one's stack.
  api.use((error: { status?: number; headers?: Record<string, string> }, _request: express.Request, response: express.Response, _next: express.NextFunction) => {
    response.status(error.status ?? 500).set(error.headers ?? {}).end()
  })
  const server = api.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/me`
  return async (token) => {
    const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
    return response.status === 200 ? 'accepted' : `${response.status} ${response.headers.get('www-authenticate') ?? ''}`
  }
}

test('jsonwebtoken + jwks-rsa, @fastify/jwt + get-jwks and express-oauth2-jwt-bearer, set up for user tokens, refuse a client token', async (t) => {
  const app = await buildTestApp(t, 'embedded')
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const jwksUri = `${url}/.well-known/jwks.json`
  const { token: userToken } = await registerAndLogin(app)
  const secret = await createClient(app, 'billing', ['orders:read'], { audiences: ['https://orders.internal'] })
  const grant = (fields: Record<string, string> = {}) => app.inject(form('/oauth/token', { grant_type: 'client_credentials', ...fields }, basic('billing', secret)))
  const clientToken = (await grant()).json().access_token as string
  assertOAuthError(t, await grant({ resource: USER_AUDIENCE }), 400, 'invalid_target')

  const libraries: [string, Check][] = [
    ['jsonwebtoken + jwks-rsa', jsonwebtokenWithJwksRsa(jwksUri)],
    ['@fastify/jwt + get-jwks', await fastifyJwtWithGetJwks(t, url)],
    ['express-oauth2-jwt-bearer', await expressOauth2JwtBearer(t, jwksUri)]
  ]
  for (const [name, check] of libraries) {
    t.equal(await check(userToken), 'accepted', `${name}: a user token passes (the set-up is right)`)
    t.match(await check(clientToken), /aud|audience|invalid_token/i, `${name}: a client token is refused, for its audience`)
  }
})
