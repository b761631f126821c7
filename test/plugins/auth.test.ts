import { test } from 'tap'
import { createTokenIssuer } from '../../src/auth/token-issuer.js'
import type { UserClaims } from '../../src/schemas/tokens.js'
import { assertError, bearer, buildTestApp, claimsOf, registerAndLogin } from '../helper.js'

const headerOf = (token: string): unknown => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())

// The verifier is the only way a token is accepted: @fastify/jwt, which signs user tokens, must leave no
// verification path of its own (`fastify.jwt.verify`, `request.jwtVerify`) that would accept a
// logged-out token, as it did before the auth core.
test('no decorated verification path accepts a logged-out token', async (t) => {
  const app = await buildTestApp(t, 'embedded')
  const { token } = await registerAndLogin(app)
  t.equal((await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(token) })).statusCode, 200)

  t.notOk(app.hasDecorator('jwt'), 'no fastify.jwt on the app')
  for (const name of ['jwtVerify', 'jwtDecode', 'user']) t.notOk(app.hasRequestDecorator(name), `no request.${name}`)
  t.notOk(app.hasReplyDecorator('jwtSign'), 'no reply.jwtSign')

  await t.rejects(app.auth.verifier.verify(token), { code: 'TOKEN_REVOKED' }, 'fastify.auth.verifier.verify refuses it')
  await t.rejects(app.auth.verifier.verifyUser(token), { code: 'TOKEN_REVOKED' }, 'fastify.auth.verifier.verifyUser refuses it')
  assertError(t, await app.inject({ url: '/api/user', headers: bearer(token) }), 401, 'TOKEN_REVOKED')
  assertError(t, await app.inject({ url: '/auth/verify', headers: bearer(token) }), 401, 'TOKEN_REVOKED')
})

// @fastify/jwt signs the app's user tokens; the CLIs and the domain tests sign with the fast-jwt signer it
// wraps. Both take their options from token-issuer.ts: a token from either has the same header and claims.
test('a user token signed through @fastify/jwt and one signed without the app are alike', async (t) => {
  const app = await buildTestApp(t, 'embedded')
  const { token } = await registerAndLogin(app)
  const withoutApp = createTokenIssuer(app.auth.keys, { issuer: app.config.ISSUER, audience: app.config.DEFAULT_AUDIENCE })
  const claims = claimsOf(token) as UserClaims
  const { iss: _iss, jti: _jti, aud: _aud, ...given } = claims
  const other = withoutApp.signUser(given).token
  t.same(headerOf(other), headerOf(token), `the same header: ${JSON.stringify(headerOf(token))}`)
  t.same(Object.keys(claimsOf(other)).sort(), Object.keys(claims).sort(), 'the same claims')
  t.match(claimsOf(other), { ...given, iss: claims.iss, aud: claims.aud }, 'with the same values but the jti')
  t.same(await app.auth.verifier.verifyUser(other), claimsOf(other), 'and the app accepts it')
})
