import { decodeProtectedHeader } from 'jose'
import { test } from 'tap'
import { assertError, buildTestApp, claimsOf, registerAndLogin, STORE_MODES } from '../../helper.js'

for (const mode of STORE_MODES) {
  test(`POST /api/login (${mode})`, async (t) => {
    const app = await buildTestApp(t, mode)
    const account = await registerAndLogin(app, { email: 'Grace@Example.com' })

    t.test('200 with an RFC 6749 token response and the documented claims', async (t) => {
      const response = await app.inject({ method: 'POST', url: '/api/login', payload: { email: 'grace@example.COM', password: account.password } })
      t.equal(response.statusCode, 200, 'the email matches case-insensitively')
      const body = response.json()
      t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'token_type'])
      t.equal(body.token_type, 'bearer')
      t.equal(body.expires_in, 3600)
      t.match(decodeProtectedHeader(body.access_token), { alg: 'ES256', typ: 'JWT', kid: app.auth.keys.signing.kid })
      const claims = claimsOf(body.access_token)
      t.match(claims, { iss: 'http://auth.test', sub: String, iat: Number, exp: Number, jti: String, sid: String, auth_time: Number })
      t.equal((claims.exp as number) - (claims.iat as number), 3600)
      t.equal(claims.auth_time, claims.iat, 'a session begins at login')
      t.ok(Buffer.from(claims.jti as string, 'base64url').length >= 16, 'jti has at least 128 bits')
      t.not(claims.sid, claimsOf(account.token).sid, 'each login starts a new session')
    })

    t.test('a wrong password and an unknown email get the same answer', async (t) => {
      const wrong = await app.inject({ method: 'POST', url: '/api/login', payload: { email: account.email, password: 'not the password' } })
      const unknown = await app.inject({ method: 'POST', url: '/api/login', payload: { email: 'nobody@example.com', password: 'not the password' } })
      assertError(t, wrong, 401, 'INVALID_CREDENTIALS')
      assertError(t, unknown, 401, 'INVALID_CREDENTIALS')
      t.equal(wrong.body, unknown.body)
      t.equal(wrong.headers['www-authenticate'], unknown.headers['www-authenticate'])
    })

    const negative: [string, unknown][] = [
      ['no body', undefined],
      ['a string body', 'email'],
      ['email missing', { password: 'whatever1' }],
      ['password missing', { email: account.email }],
      ['email empty', { email: '', password: 'whatever1' }],
      ['password empty', { email: account.email, password: '' }],
      ['email a number', { email: 12, password: 'whatever1' }],
      ['password an array', { email: account.email, password: ['a'] }],
      ['email an operator object', { email: { $gt: '' }, password: 'whatever1' }],
      ['email over 255', { email: `${'e'.repeat(256)}@x.io`, password: 'whatever1' }],
      ['password over 255', { email: account.email, password: 'p'.repeat(256) }]
    ]
    for (const [description, payload] of negative) {
      t.test(`400 VALIDATION_FAILED for ${description}`, async (t) => {
        const response = await app.inject({ method: 'POST', url: '/api/login', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) ?? '' })
        assertError(t, response, 400, 'VALIDATION_FAILED')
      })
    }
  })
}
