import { test } from 'tap'
import { badAuthorizationHeaders, forgedTokens } from '../../forge.js'
import { assertError, bearer, buildTestApp, registerAndLogin, STORE_MODES } from '../../helper.js'

for (const mode of STORE_MODES) {
  test(`GET /api/user (${mode})`, async (t) => {
    const app = await buildTestApp(t, mode)
    const account = await registerAndLogin(app)

    t.test('200 with the user of the token', async (t) => {
      for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
        const response = await app.inject({ url: '/api/user', headers: { authorization: `${scheme} ${account.token}` } })
        t.equal(response.statusCode, 200, scheme)
        t.match(response.json(), { id: String, name: 'Test User', email: account.email })
        t.notOk('password_hash' in response.json())
      }
    })

    for (const [description, headers, code] of badAuthorizationHeaders) {
      t.test(`401 ${code} for ${description}`, async (t) => {
        const response = await app.inject({ url: '/api/user', headers })
        assertError(t, response, 401, code)
        const challenge = response.headers['www-authenticate'] as string
        if (code === 'TOKEN_MISSING') t.notMatch(challenge, /error=/, 'no error attribute without a token (RFC 6750 §3.1)')
        else t.match(challenge, /error="invalid_token"/)
      })
    }

    for (const [description, token, code] of await forgedTokens(app, account.token)) {
      t.test(`401 ${code} for ${description}`, async (t) => {
        const response = await app.inject({ url: '/api/user', headers: bearer(token) })
        assertError(t, response, 401, code)
        t.match(response.headers['www-authenticate'], /error="invalid_token"/)
      })
    }

    t.test('the genuine token still works after all the forgeries', async (t) => {
      t.equal((await app.inject({ url: '/api/user', headers: bearer(account.token) })).statusCode, 200)
    })
  })
}
