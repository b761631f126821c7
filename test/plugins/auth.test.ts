import { test } from 'tap'
import { assertError, bearer, buildTestApp, registerAndLogin } from '../helper.js'

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
