import { generateKeyPairSync } from 'node:crypto'
import { SignJWT, importPKCS8 } from 'jose'
import { test } from 'tap'
import { settableClock } from '../../../src/auth/clock.js'
import { assertError, assertOAuthError, basic, bearer, buildTestApp, CLIENT_VERIFY_URL, createClient, form, registerAndLogin, STORE_MODES } from '../../helper.js'

for (const mode of STORE_MODES) {
  test(`POST /oauth/introspect and /oauth/revoke (${mode})`, async (t) => {
    const clock = settableClock()
    const app = await buildTestApp(t, mode, { CLIENT_TOKEN_TTL: '2' }, clock)
    const gateway = await createClient(app, 'gateway', [], { privileges: ['introspect', 'revoke'] })
    const billing = await createClient(app, 'billing', ['orders:read'])
    const nosy = await createClient(app, 'nosy', [])
    const clientToken = async () =>
      (await app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('billing', billing)))).json().access_token as string
    const introspect = (token: string, auth: Record<string, string> = basic('gateway', gateway)) => app.inject(form('/oauth/introspect', { token }, auth))
    const revoke = (token: string, auth: Record<string, string>) => app.inject(form('/oauth/revoke', { token, token_type_hint: 'access_token' }, auth))

    t.test('a client token is active, with RFC 7662 members, until revoked by its client', async (t) => {
      const token = await clientToken()
      t.equal((await app.inject({ url: CLIENT_VERIFY_URL, headers: bearer(token) })).statusCode, 200, 'passes the gateway')
      const response = await introspect(token)
      t.equal(response.statusCode, 200)
      t.match(response.json(), { active: true, token_type: 'Bearer', client_id: 'billing', sub: 'billing', scope: 'orders:read', iss: 'http://auth.test', exp: Number, iat: Number, jti: String })
      assertOAuthError(t, await revoke(token, basic('nosy', nosy)), 400, 'unauthorized_client')
      t.equal((await introspect(token)).json().active, true, "another client's revocation did nothing")
      const revoked = await revoke(token, basic('billing', billing))
      t.equal(revoked.statusCode, 200)
      t.same((await introspect(token)).json(), { active: false })
      assertError(t, await app.inject({ url: CLIENT_VERIFY_URL, headers: bearer(token) }), 401, 'TOKEN_REVOKED')
    })

    t.test('a user token: active with its session; revoking it ends the session', async (t) => {
      const { token } = await registerAndLogin(app)
      t.match((await introspect(token)).json(), { active: true, sub: String, sid: String, auth_time: Number, aud: 'http://auth.test' })
      t.equal((await revoke(token, basic('gateway', gateway))).statusCode, 200)
      t.same((await introspect(token)).json(), { active: false })
      t.equal((await app.inject({ url: '/api/user', headers: bearer(token) })).statusCode, 401)
    })

    t.test('inactive: rotated, logged out, expired, foreign, malformed', async (t) => {
      const rotated = (await registerAndLogin(app)).token
      await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(rotated) })
      const loggedOut = (await registerAndLogin(app)).token
      await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(loggedOut) })
      const foreignKey = await importPKCS8(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'ES256')
      const foreign = await new SignJWT({ sub: 'x', client_id: 'x', scope: '', jti: 'j', aud: 'a' }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'theirs' }).setIssuer('http://elsewhere').setIssuedAt().setExpirationTime('5m').sign(foreignKey)
      const expiring = await clientToken()
      // Past CLIENT_TOKEN_TTL by the service's clock; the user tokens (an hour) are still within theirs.
      clock.advance(3000)
      const cases: [string, string][] = [['rotated', rotated], ['logged out', loggedOut], ['expired', expiring], ['foreign', foreign], ['malformed', 'abc.def'], ['empty-ish', '.']]
      for (const [description, token] of cases) {
        const response = await introspect(token)
        t.equal(response.statusCode, 200, description)
        t.same(response.json(), { active: false }, description)
      }
    })

    t.test('without privileges a client sees and revokes only its own tokens (RFC 7662 §2.1, RFC 7009 §2.1)', async (t) => {
      const user = (await registerAndLogin(app)).token
      const others = await clientToken()
      for (const [description, token] of [['a user token', user], ["another client's token", others]] as const) {
        t.same((await introspect(token, basic('nosy', nosy))).json(), { active: false }, `introspection of ${description} tells nothing`)
        assertOAuthError(t, await revoke(token, basic('nosy', nosy)), 400, 'unauthorized_client')
        t.equal((await introspect(token)).json().active, true, `${description} is still active`)
      }
      t.equal((await app.inject({ url: '/api/user', headers: bearer(user) })).statusCode, 200, 'the user was not logged out')
      const own = (await app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('nosy', nosy)))).json().access_token as string
      t.match((await introspect(own, basic('nosy', nosy))).json(), { active: true, client_id: 'nosy' }, 'its own token: active')
      t.equal((await revoke(own, basic('nosy', nosy))).statusCode, 200, 'and revoked by it')
      t.same((await introspect(own)).json(), { active: false })
    })

    t.test('revoking an unknown or malformed token is 200', async (t) => {
      t.equal((await revoke('not-a-token', basic('gateway', gateway))).statusCode, 200)
      t.equal((await revoke('a.b.c', basic('gateway', gateway))).statusCode, 200)
    })

    const unauthenticated: [string, Record<string, string>][] = [
      ['no client authentication', {}],
      ['a wrong secret', basic('gateway', 'wrong')],
      ['an unknown client', basic('ghost', gateway)]
    ]
    for (const [description, auth] of unauthenticated) {
      t.test(`401 invalid_client for ${description}`, async (t) => {
        const token = await clientToken()
        assertOAuthError(t, await introspect(token, auth), 401, 'invalid_client')
        assertOAuthError(t, await revoke(token, auth), 401, 'invalid_client')
        t.equal((await introspect(token)).json().active, true, 'nothing was revoked')
      })
    }

    t.test('400 invalid_request without a token', async (t) => {
      assertOAuthError(t, await app.inject(form('/oauth/introspect', {}, basic('gateway', gateway))), 400, 'invalid_request')
      assertOAuthError(t, await app.inject(form('/oauth/revoke', { token: '' }, basic('gateway', gateway))), 400, 'invalid_request')
    })
  })
}
