import { test } from 'tap'
import { assertError, bearer, buildApp, claimsOf, login, registerAndLogin, STORE_MODES, storeEnv } from './helper.js'

for (const mode of STORE_MODES) {
  test(`a restart keeps users, keys and revocations (${mode})`, async (t) => {
    const env = await storeEnv(t, mode)
    const first = await buildApp(t, env)
    const account = await registerAndLogin(first)
    const child = (await first.inject({ method: 'POST', url: '/api/refresh', headers: bearer(account.token) })).json().access_token as string
    const other = await login(first, account.email, account.password)
    t.equal((await first.inject({ method: 'POST', url: '/api/logout', headers: bearer(other.access_token) })).statusCode, 200)
    const kid = first.auth.keys.signing.kid
    await first.close()

    const second = await buildApp(t, env)
    t.equal(second.auth.keys.signing.kid, kid, 'the same signing key')
    t.equal((await second.inject({ url: '/api/user', headers: bearer(child) })).statusCode, 200, 'a live token still works')
    assertError(t, await second.inject({ url: '/api/user', headers: bearer(account.token) }), 401, 'TOKEN_REVOKED')
    assertError(t, await second.inject({ url: '/api/user', headers: bearer(other.access_token) }), 401, 'TOKEN_REVOKED')
    t.equal((await login(second, account.email, account.password)).token_type, 'bearer', 'the user can still log in')
  })

  test(`two instances sharing the stores (${mode})`, async (t) => {
    const env = await storeEnv(t, mode)
    const a = await buildApp(t, env)
    const b = await buildApp(t, env)
    const { token } = await registerAndLogin(a)
    t.equal((await b.inject({ url: '/api/user', headers: bearer(token) })).statusCode, 200, 'a token of A works on B')

    const child = (await a.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) })).json().access_token as string
    assertError(t, await b.inject({ url: '/api/user', headers: bearer(token) }), 401, 'TOKEN_REVOKED')
    const repeated = await b.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) })
    t.equal(repeated.json().access_token, child, 'B hands out the child A made, within the grace')

    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).inject({ method: 'POST', url: '/api/refresh', headers: bearer(child) }))
    )
    t.same(new Set(responses.map((r) => r.statusCode)), new Set([200]))
    const grandchildren = new Set(responses.map((r) => r.json().access_token as string))
    t.equal(grandchildren.size, 1, '20 concurrent refreshes over two instances: one child')
    const grandchild = [...grandchildren][0]!
    t.equal(claimsOf(grandchild).sid, claimsOf(token).sid)

    t.equal((await b.inject({ method: 'POST', url: '/api/logout', headers: bearer(grandchild) })).statusCode, 200)
    assertError(t, await a.inject({ url: '/api/user', headers: bearer(grandchild) }), 401, 'TOKEN_REVOKED')
  })
}
