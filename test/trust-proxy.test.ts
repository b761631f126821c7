import { test } from 'tap'
import { bearer, buildTestApp, registerAndLogin } from './helper.js'

// A client wrote 198.51.100.66 itself; the one proxy in front appended the address it saw, 203.0.113.7.
const forwarded = { 'x-forwarded-for': '198.51.100.66, 203.0.113.7' }

const settings = [
  [undefined, '127.0.0.1'],
  ['false', '127.0.0.1'],
  ['true', '198.51.100.66'], // the leftmost entry: the client chose it (why the README advises against `true`)
  ['1', '203.0.113.7'], // one proxy hop: the address that proxy saw
  ['2', '198.51.100.66'], // two hops trusted: the client's own entry is believed
  ['127.0.0.1', '203.0.113.7'],
  ['10.0.0.0/8', '127.0.0.1']
] as const

for (const [setting, expected] of settings) {
  test(`TRUST_PROXY=${setting ?? '(unset)'}: the client address is ${expected}`, async (t) => {
    const app = await buildTestApp(t, 'embedded', setting === undefined ? {} : { TRUST_PROXY: setting })
    const account = await registerAndLogin(app)
    const login = await app.inject({ method: 'POST', url: '/api/login', headers: forwarded, payload: { email: account.email, password: account.password } })
    const token = login.json().access_token as string
    const sessions = (await app.inject({ url: '/api/sessions', headers: bearer(token) })).json().sessions as { ip: string; current: boolean }[]
    t.equal(sessions.find((s) => s.current)?.ip, expected)
  })
}
