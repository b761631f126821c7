import { test } from 'tap'
import { assertError, buildTestApp, STORE_MODES } from '../../helper.js'

const valid = { name: 'Ada Lovelace', email: 'ada@example.com', password: 'analytical', password_confirmation: 'analytical' }

for (const mode of STORE_MODES) {
  test(`POST /api/register (${mode})`, async (t) => {
    const app = await buildTestApp(t, mode)

    t.test('201 with the user, never a hash', async (t) => {
      const response = await app.inject({ method: 'POST', url: '/api/register', payload: { ...valid, extra: 'dropped' } })
      t.equal(response.statusCode, 201)
      const body = response.json()
      t.equal(body.status, 'success')
      t.match(body.data, { id: String, name: 'Ada Lovelace', email: 'ada@example.com' })
      t.same(Object.keys(body.data).sort(), ['created_at', 'email', 'email_verified_at', 'id', 'name', 'updated_at'])
      t.ok(!Number.isNaN(Date.parse(body.data.created_at)), 'created_at is ISO-8601')
      t.notMatch(response.body, /argon2|password/i, 'no hash and no password in the response')
    })

    t.test('409 EMAIL_TAKEN, case-insensitively', async (t) => {
      const response = await app.inject({ method: 'POST', url: '/api/register', payload: { ...valid, email: 'ADA@Example.COM' } })
      assertError(t, response, 409, 'EMAIL_TAKEN')
    })

    t.test('concurrent registrations of one email: exactly one wins', async (t) => {
      const payload = { ...valid, email: 'race@example.com' }
      const responses = await Promise.all(Array.from({ length: 5 }, () => app.inject({ method: 'POST', url: '/api/register', payload })))
      t.same(responses.map((r) => r.statusCode).sort(), [201, 409, 409, 409, 409])
    })

    const negative: [string, unknown, string, RegExp?][] = [
      ['no body', undefined, 'VALIDATION_FAILED'],
      ['an array body', [valid], 'VALIDATION_FAILED'],
      ['name missing', { ...valid, name: undefined }, 'VALIDATION_FAILED', /name/],
      ['name empty', { ...valid, name: '' }, 'VALIDATION_FAILED', /name/],
      ['name of blanks', { ...valid, name: '   ' }, 'VALIDATION_FAILED', /name/],
      ['name with a NUL', { ...valid, name: 'a\u0000b' }, 'VALIDATION_FAILED', /name/],
      ['name with a control character', { ...valid, name: 'Ada\u0007' }, 'VALIDATION_FAILED', /body\/name/],
      ['name with a C1 control character', { ...valid, name: 'Ada\u009b31m' }, 'VALIDATION_FAILED', /body\/name/],
      ['name with an ANSI escape', { ...valid, name: '\u001b[31mAda\u001b[0m' }, 'VALIDATION_FAILED', /body\/name/],
      ['name with a CR/LF (log injection)', { ...valid, name: 'Ada\r\nlevel=admin' }, 'VALIDATION_FAILED', /body\/name/],
      ['name with a tab', { ...valid, name: 'Ada\tLovelace' }, 'VALIDATION_FAILED', /body\/name/],
      ['name with a Unicode line separator', { ...valid, name: 'Ada\u2028Lovelace' }, 'VALIDATION_FAILED', /body\/name/],
      ['name with a right-to-left override', { ...valid, name: 'Ada\u202egpj.exe' }, 'VALIDATION_FAILED', /body\/name/],
      ['name with a left-to-right embedding', { ...valid, name: '\u202aAda' }, 'VALIDATION_FAILED', /body\/name/],
      ['name with a bidi isolate', { ...valid, name: 'Ada\u2067x\u2069' }, 'VALIDATION_FAILED', /body\/name/],
      ['name of zero-width characters only', { ...valid, name: '\u200b\u200c\u200d\u2060\ufeff' }, 'VALIDATION_FAILED', /body\/name/],
      ['name of a zero-width space and blanks', { ...valid, name: ' \u200b ' }, 'VALIDATION_FAILED', /body\/name/],
      ['email with a NUL', { ...valid, email: 'a\u0000@example.com' }, 'VALIDATION_FAILED', /email/],
      ['name of 101 characters', { ...valid, name: 'x'.repeat(101) }, 'VALIDATION_FAILED', /name/],
      ['name not a string', { ...valid, name: 42 }, 'VALIDATION_FAILED', /name/],
      ['email missing', { ...valid, email: undefined }, 'VALIDATION_FAILED', /email/],
      ['email not an email', { ...valid, email: 'not-an-email' }, 'VALIDATION_FAILED', /email/],
      ['email over 255', { ...valid, email: `${'a'.repeat(250)}@example.com` }, 'VALIDATION_FAILED', /email/],
      ['email an object', { ...valid, email: { $ne: '' } }, 'VALIDATION_FAILED', /email/],
      ['password of 7 characters', { ...valid, password: 'short12', password_confirmation: 'short12' }, 'VALIDATION_FAILED', /password/],
      ['password over 255', { ...valid, password: 'p'.repeat(256), password_confirmation: 'p'.repeat(256) }, 'VALIDATION_FAILED', /password/],
      ['password_confirmation missing', { ...valid, password_confirmation: undefined }, 'VALIDATION_FAILED', /password_confirmation/],
      ['password_confirmation different', { ...valid, password_confirmation: 'analytica1' }, 'VALIDATION_FAILED', /password_confirmation/]
    ]
    for (const [description, payload, code, field] of negative) {
      t.test(`400 for ${description}`, async (t) => {
        const response = await app.inject({ method: 'POST', url: '/api/register', payload: payload as object })
        assertError(t, response, 400, code)
        if (field !== undefined) t.match(response.json().message, field, 'the message names the field')
      })
    }

    t.test('a name with a joiner inside visible text (emoji, Indic scripts) is accepted', async (t) => {
      const name = 'Ada \u{1F469}\u200d\u{1F4BB} \u0915\u094d\u200d\u0937'
      const response = await app.inject({ method: 'POST', url: '/api/register', payload: { ...valid, name, email: 'joiner@example.com' } })
      t.equal(response.statusCode, 201)
      t.equal(response.json().data.name, name)
    })

    t.test('malformed JSON is 400, a wrong media type 415, a body over 16 KiB 413', async (t) => {
      const headers = { 'content-type': 'application/json' }
      assertError(t, await app.inject({ method: 'POST', url: '/api/register', headers, payload: '{"name":' }), 400, 'MALFORMED_BODY')
      assertError(t, await app.inject({ method: 'POST', url: '/api/register', headers: { 'content-type': 'text/plain' }, payload: 'x' }), 415, 'UNSUPPORTED_MEDIA_TYPE')
      const big = JSON.stringify({ ...valid, name: 'x'.repeat(17 * 1024) })
      assertError(t, await app.inject({ method: 'POST', url: '/api/register', headers, payload: big }), 413, 'BODY_TOO_LARGE')
      const proto = '{"__proto__":{"admin":true},"name":"a","email":"p@example.com","password":"12345678","password_confirmation":"12345678"}'
      assertError(t, await app.inject({ method: 'POST', url: '/api/register', headers, payload: proto }), 400, 'MALFORMED_BODY')
    })
  })
}
