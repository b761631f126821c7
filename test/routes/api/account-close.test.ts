/** DELETE /api/user: the owner closes the account; every session ends at once, and the email may register again. */
import type { FastifyInstance } from 'fastify'
import { test } from 'tap'
import { assertError, bearer, buildApp, login, registerAndLogin, storeEnv, STORE_MODES } from '../../helper.js'

const close = (app: FastifyInstance, token: string | undefined, payload: unknown) =>
  app.inject({ method: 'DELETE', url: '/api/user', headers: token === undefined ? {} : bearer(token), payload: payload as object })

for (const mode of STORE_MODES) {
  test(`DELETE /api/user (${mode})`, async (t) => {
    const env = await storeEnv(t, mode)
    const [a, b] = [await buildApp(t, env), await buildApp(t, env)]

    t.test('204; every session ends on every instance; nothing of it stays readable; the email registers again', async (t) => {
      const account = await registerAndLogin(a)
      const onB = (await login(b, account.email, account.password)).access_token
      // Read once on B, so that B holds the record in its cache when the account goes.
      t.equal((await b.inject({ url: '/api/user', headers: bearer(onB) })).statusCode, 200)
      const closed = await close(a, account.token, { current_password: account.password })
      t.equal(closed.statusCode, 204)
      t.equal(closed.body, '')
      for (const [instance, token] of [[a, account.token], [b, onB]] as const) {
        assertError(t, await instance.inject({ url: '/api/user', headers: bearer(token) }), 401, 'TOKEN_REVOKED')
        assertError(t, await instance.inject({ url: '/api/sessions', headers: bearer(token) }), 401, 'TOKEN_REVOKED')
        assertError(t, await instance.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) }), 401, 'TOKEN_REVOKED')
      }
      assertError(t, await a.inject({ method: 'POST', url: '/api/login', payload: { email: account.email, password: account.password } }), 401, 'INVALID_CREDENTIALS')
      const again = await a.inject({ method: 'POST', url: '/api/register', payload: { name: 'Again', email: account.email, password: 'another passphrase', password_confirmation: 'another passphrase' } })
      t.equal(again.statusCode, 201, 'the email may register again')
      t.not(again.json().data.id, (await a.inject({ url: '/api/user', headers: bearer(account.token) })).json().id, 'as a new account')
    })

    t.test('negative cases: nothing is deleted', async (t) => {
      const account = await registerAndLogin(a)
      const cases: [string, string | undefined, unknown, number, string][] = [
        ['no token', undefined, { current_password: account.password }, 401, 'TOKEN_MISSING'],
        ['a malformed token', 'not.a.token', { current_password: account.password }, 401, 'TOKEN_INVALID'],
        ['a wrong password', account.token, { current_password: 'not the password' }, 400, 'VALIDATION_FAILED'],
        ['no body', account.token, undefined, 400, 'VALIDATION_FAILED'],
        ['no current_password', account.token, {}, 400, 'VALIDATION_FAILED'],
        ['an empty current_password', account.token, { current_password: '' }, 400, 'VALIDATION_FAILED'],
        ['current_password not a string', account.token, { current_password: 12345678 }, 400, 'VALIDATION_FAILED'],
        ['current_password over 255', account.token, { current_password: 'p'.repeat(256) }, 400, 'VALIDATION_FAILED']
      ]
      for (const [name, token, payload, status, code] of cases) await t.test(name, async (t) => assertError(t, await close(a, token, payload), status, code))
      t.equal((await a.inject({ url: '/api/user', headers: bearer(account.token) })).statusCode, 200, 'the account and its session are still there')
      t.equal((await login(b, account.email, account.password)).token_type, 'bearer')
    })
  })
}
