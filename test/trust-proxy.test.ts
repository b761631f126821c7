import { test } from 'tap'
import { bearer, buildTestApp, registerAndLogin } from './helper.js'

const forwarded = { 'x-forwarded-for': '203.0.113.7' }

for (const [setting, expected] of [[undefined, '127.0.0.1'], ['false', '127.0.0.1'], ['true', '203.0.113.7'], ['127.0.0.1', '203.0.113.7'], ['10.0.0.0/8', '127.0.0.1']] as const) {
  test(`TRUST_PROXY=${setting ?? '(unset)'}: the client address is ${expected}`, async (t) => {
    const app = await buildTestApp(t, 'embedded', setting === undefined ? {} : { TRUST_PROXY: setting })
    const account = await registerAndLogin(app)
    const login = await app.inject({ method: 'POST', url: '/api/login', headers: forwarded, payload: { email: account.email, password: account.password } })
    const token = login.json().access_token as string
    const sessions = (await app.inject({ url: '/api/sessions', headers: bearer(token) })).json().sessions as { ip: string; current: boolean }[]
    t.equal(sessions.find((s) => s.current)?.ip, expected)
  })
}
