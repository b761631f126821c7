import { createLocalJWKSet, jwtVerify } from 'jose'
import { test } from 'tap'
import { buildTestApp, registerAndLogin } from '../../helper.js'

for (const alg of ['ES256', 'EdDSA', 'RS256'] as const) {
  test(`jose verifies our ${alg} tokens from the JWKS alone`, async (t) => {
    const app = await buildTestApp(t, 'embedded', { JWT_ALGORITHM: alg })
    const response = await app.inject({ url: '/.well-known/jwks.json' })
    t.equal(response.statusCode, 200)
    t.match(response.headers['cache-control'], /max-age=\d+/)
    const jwks = response.json()
    t.equal(jwks.keys.length, 1)
    for (const key of jwks.keys) {
      for (const privateMember of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) t.notOk(privateMember in key, `no ${privateMember}`)
    }
    const { token } = await registerAndLogin(app)
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: 'http://auth.test', algorithms: [alg] })
    t.equal(protectedHeader.kid, app.auth.keys.signing.kid)
    t.match(payload, { sub: String, sid: String, jti: String })
  })
}

test('HS256: the JWKS publishes nothing, and tokens still verify in the service', async (t) => {
  const app = await buildTestApp(t, 'embedded', { JWT_ALGORITHM: 'HS256' })
  t.same((await app.inject({ url: '/.well-known/jwks.json' })).json(), { keys: [] })
  const { token } = await registerAndLogin(app)
  t.equal((await app.inject({ url: '/api/user', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
})
