import { test } from 'tap'
import { badAuthorizationHeaders } from '../../forge.js'
import { assertError, bearer, buildApp, buildTestApp, claimsOf, login, registerAndLogin, sleep, storeEnv, STORE_MODES } from '../../helper.js'

for (const mode of STORE_MODES) {
  test(`PUT /api/user/password (${mode})`, async (t) => {
    const app = await buildTestApp(t, mode)
    const change = (token: string, payload: unknown) => app.inject({ method: 'PUT', url: '/api/user/password', headers: bearer(token), payload: payload as object })
    const statusOf = async (token: string) => (await app.inject({ url: '/api/user', headers: bearer(token) })).statusCode

    t.test('changes the password and revokes every other session', async (t) => {
      const account = await registerAndLogin(app)
      const other = (await login(app, account.email, account.password)).access_token
      const response = await change(account.token, { current_password: account.password, password: 'a new passphrase', password_confirmation: 'a new passphrase' })
      t.equal(response.statusCode, 200)
      t.equal(response.json().status, 'success')
      t.equal(await statusOf(account.token), 200, 'this session goes on')
      t.equal(await statusOf(other), 401, 'the other session is revoked')
      assertError(t, await app.inject({ method: 'POST', url: '/api/login', payload: { email: account.email, password: account.password } }), 401, 'INVALID_CREDENTIALS')
      t.equal((await login(app, account.email, 'a new passphrase')).token_type, 'bearer', 'the new password logs in')
      const user = (await app.inject({ url: '/api/user', headers: bearer(account.token) })).json()
      t.ok(Date.parse(user.updated_at) >= Date.parse(user.created_at), 'updated_at moved')
    })

    const account = await registerAndLogin(app)
    const other = (await login(app, account.email, account.password)).access_token
    const valid = { current_password: account.password, password: 'another one!', password_confirmation: 'another one!' }
    const negative: [string, unknown, RegExp][] = [
      ['no body', undefined, /body/],
      ['current_password missing', { ...valid, current_password: undefined }, /current_password/],
      ['current_password wrong', { ...valid, current_password: 'wrong password' }, /current_password/],
      ['password too short', { ...valid, password: 'short', password_confirmation: 'short' }, /password/],
      ['password over 255', { ...valid, password: 'p'.repeat(256), password_confirmation: 'p'.repeat(256) }, /password/],
      ['password not a string', { ...valid, password: 12345678 }, /password/],
      ['confirmation different', { ...valid, password_confirmation: 'another one?' }, /password_confirmation/]
    ]
    for (const [description, payload, field] of negative) {
      t.test(`400 VALIDATION_FAILED for ${description}, and nothing changes`, async (t) => {
        const response = await change(account.token, payload)
        assertError(t, response, 400, 'VALIDATION_FAILED')
        t.match(response.json().message, field)
        t.equal(await statusOf(other), 200, 'the other session is untouched')
        t.equal((await login(app, account.email, account.password)).token_type, 'bearer', 'the old password still works')
      })
    }

    for (const [description, headers, code] of badAuthorizationHeaders) {
      t.test(`401 ${code} for ${description}`, async (t) => {
        assertError(t, await app.inject({ method: 'PUT', url: '/api/user/password', headers, payload: valid }), 401, code)
      })
    }
  })

  test(`a password change and 20 concurrent old-password logins on two instances (${mode})`, async (t) => {
    // Two instances over the same stores, with the real clock: the change on one, logins on both.
    const env = await storeEnv(t, mode)
    const [one, two] = [await buildApp(t, env), await buildApp(t, env)]
    const account = await registerAndLogin(one)
    const newPassword = 'a new passphrase'
    const attempt = (app: typeof one) => app.inject({ method: 'POST', url: '/api/login', payload: { email: account.email, password: account.password } })

    let changing = true
    const change = one
      .inject({ method: 'PUT', url: '/api/user/password', headers: bearer(account.token), payload: { current_password: account.password, password: newPassword, password_confirmation: newPassword } })
      .finally(() => (changing = false))
    // 20 logins (more while the change lasts), spread over it, half on each instance.
    const logins: ReturnType<typeof attempt>[] = []
    for (let i = 0; i < 20 || (changing && i < 60); i++) {
      logins.push(attempt(i % 2 === 0 ? one : two))
      // Spreads the logins over the change's real duration (argon2 on the libuv pool), to race it.
      await sleep(10)
    }
    t.equal((await change).statusCode, 200, 'the change succeeds')
    const responses = await Promise.all(logins)
    t.same([...new Set(responses.map((r) => r.statusCode))].filter((status) => status !== 200 && status !== 401), [], 'each login is 200 or 401')
    const tokens = responses.filter((r) => r.statusCode === 200).map((r) => r.json().access_token as string)
    const survivors = []
    for (const [i, token] of tokens.entries()) {
      const status = (await (i % 2 === 0 ? two : one).inject({ url: '/api/user', headers: bearer(token) })).statusCode
      if (status !== 401) survivors.push(claimsOf(token).sid)
    }
    t.equal(survivors.length, 0, `no old-password session survives (${survivors.length} of the ${tokens.length} that started are alive)`)

    const listed = (await two.inject({ url: '/api/sessions', headers: bearer(account.token) })).json().sessions as { id: string }[]
    t.same(listed.map((s) => s.id), [claimsOf(account.token).sid], 'only the session that changed the password is listed')
    t.equal((await two.inject({ url: '/api/user', headers: bearer(account.token) })).statusCode, 200, 'and it works on both instances')
    assertError(t, await attempt(two), 401, 'INVALID_CREDENTIALS')
    t.equal((await login(two, account.email, newPassword)).token_type, 'bearer', 'the new password logs in')
  })
}
