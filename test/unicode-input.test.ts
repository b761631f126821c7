import { test } from 'tap'
import { assertError, bearer, buildTestApp, login, STORE_MODES } from './helper.js'

// NIST SP 800-63B §5.1.1.2: passwords are normalised (NFC here) before they are hashed or compared, so the
// same characters typed on another keyboard or OS (precomposed é, or e + combining accent) log in.
const NFC = 'crème brûlée à la café'.normalize('NFC')
const NFD = NFC.normalize('NFD')

for (const mode of STORE_MODES) {
  test(`Unicode input (${mode})`, async (t) => {
    const app = await buildTestApp(t, mode)
    let n = 0
    const register = (password: string, confirmation = password, name = 'Unicode') => {
      const email = `unicode${++n}.${mode}@example.com`
      return app
        .inject({ method: 'POST', url: '/api/register', payload: { name, email, password, password_confirmation: confirmation } })
        .then((response) => ({ response, email }))
    }

    t.not(NFC, NFD, 'the two forms differ byte for byte')

    for (const [registered, typed] of [
      ['NFC', 'NFD'],
      ['NFD', 'NFC']
    ] as const) {
      t.test(`a password registered in ${registered} logs in when typed in ${typed}`, async (t) => {
        const forms = { NFC, NFD }
        const { response, email } = await register(forms[registered])
        t.equal(response.statusCode, 201)
        t.equal((await login(app, email, forms[typed])).token_type, 'bearer')
        t.equal((await login(app, email, forms[registered])).token_type, 'bearer', 'and as registered')
      })
    }

    t.test('the confirmation matches in the other form', async (t) => {
      t.equal((await register(NFC, NFD)).response.statusCode, 201)
    })

    t.test('password change: current and new password are normalised', async (t) => {
      const { email } = await register(NFC)
      const token = (await login(app, email, NFC)).access_token
      const changed = await app.inject({
        method: 'PUT',
        url: '/api/user/password',
        headers: bearer(token),
        payload: { current_password: NFD, password: `${NFD}!`, password_confirmation: `${NFC}!` }
      })
      t.equal(changed.statusCode, 200, changed.body)
      t.equal((await login(app, email, `${NFC}!`)).token_type, 'bearer', 'the new password, typed in NFC')
      assertError(t, await app.inject({ method: 'POST', url: '/api/login', payload: { email, password: NFD } }), 401, 'INVALID_CREDENTIALS')
    })

    t.test('the name is stored in NFC', async (t) => {
      const { response } = await register('a passphrase', 'a passphrase', 'Zoe\u0308 Sa\u0301nchez')
      t.equal(response.statusCode, 201)
      t.equal(response.json().data.name, 'Zoë Sánchez'.normalize('NFC'))
      const token = (await login(app, response.json().data.email, 'a passphrase')).access_token
      t.equal((await app.inject({ url: '/api/user', headers: bearer(token) })).json().name, 'Zoë Sánchez'.normalize('NFC'))
    })

    t.test('a name of 100 characters in NFC is accepted although longer in NFD', async (t) => {
      const name = 'é'.repeat(100)
      t.equal((await register('a passphrase', 'a passphrase', name.normalize('NFD'))).response.statusCode, 201)
    })
  })
}
