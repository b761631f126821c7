/**
 * Email verification against a real SMTP server: the mail sent at registration, its link followed,
 * POST /api/email/resend, and REQUIRE_VERIFIED_EMAIL on and off, on both store configurations.
 */
import type { FastifyInstance } from 'fastify'
import { test } from 'tap'
import { settableClock } from '../../../src/auth/clock.js'
import { assertError, bearer, buildApp, login, registerAndLogin, storeEnv, STORE_MODES } from '../../helper.js'
import { linkToken, MailCatcher } from '../../mail.js'

const APP_URL = 'https://app.test/'
const VERIFY = '/verify-email'

const verify = (instance: FastifyInstance, payload: unknown) => instance.inject({ method: 'POST', url: '/api/email/verify', payload: payload as object })
const resend = (instance: FastifyInstance, token: string) => instance.inject({ method: 'POST', url: '/api/email/resend', headers: bearer(token) })
const register = (instance: FastifyInstance, email: string, password: string) =>
  instance.inject({ method: 'POST', url: '/api/register', payload: { name: 'Verifier', email, password, password_confirmation: password } })

let accounts = 0
const newEmail = (): string => `verify-${process.pid}-${++accounts}@example.com`

for (const mode of STORE_MODES) {
  test(`email verification by mail (${mode})`, async (t) => {
    const mail = await MailCatcher.start(t)
    const clock = settableClock()
    const env = await storeEnv(t, mode, { SMTP_URL: mail.url, APP_URL, EMAIL_VERIFICATION_TTL: '1h' })
    const app = await buildApp(t, env, clock)
    // APP_URL is taken without its trailing slash. `count`: the how-manieth mail to the address it waits for.
    const linkOf = async (email: string, count: number) => linkToken(await mail.next(email, VERIFY, count), 'https://app.test', VERIFY)

    t.test('registration mails a link; following it verifies the email, once', async (t) => {
      const email = newEmail()
      const created = await register(app, email, 'a long passphrase')
      t.equal(created.statusCode, 201)
      t.equal(created.json().data.email_verified_at, null, 'unverified at first')
      const received = await mail.next(email, VERIFY)
      t.equal(received.subject, 'Confirm your email address')
      t.match(received.html, 'href="https://app.test/verify-email?token=')
      const token = linkToken(received, 'https://app.test', VERIFY)
      const verified = await verify(app, { token })
      t.equal(verified.statusCode, 200)
      t.equal(verified.headers['cache-control'], 'no-store')
      t.equal(verified.json().data.email, email)
      t.equal(verified.json().data.email_verified_at, new Date(clock.now()).toISOString(), "verified at the clock's time")
      const { access_token: token2 } = await login(app, email, 'a long passphrase')
      t.equal((await app.inject({ url: '/api/user', headers: bearer(token2) })).json().email_verified_at, verified.json().data.email_verified_at, 'GET /api/user shows it')
      assertError(t, await verify(app, { token }), 400, 'VERIFICATION_TOKEN_INVALID')
    })

    t.test('resend: a new link that ends the older one; none once the email is verified', async (t) => {
      const account = await registerAndLogin(app, { email: newEmail() })
      const first = await linkOf(account.email, 1)
      const answer = await resend(app, account.token)
      t.equal(answer.statusCode, 202)
      t.same(answer.json(), { status: 'success' })
      const second = await linkOf(account.email, 2)
      t.not(second, first)
      assertError(t, await verify(app, { token: first }), 400, 'VERIFICATION_TOKEN_INVALID')
      t.equal((await verify(app, { token: second })).statusCode, 200)
      t.equal((await resend(app, account.token)).statusCode, 202)
      // A mail to another address marks when the resend's would have arrived.
      const other = await registerAndLogin(app, { email: newEmail() })
      await mail.next(other.email, VERIFY)
      t.equal(mail.to(account.email, VERIFY).length, 2, 'no third mail for a verified address')
    })

    t.test('resend, negative cases: 401 without a live token, 429 past the per-user limit; nothing is mailed', async (t) => {
      const limited = await buildApp(t, { ...env, RATE_LIMIT_MAIL_PER_EMAIL: '1' }, clock)
      const account = await registerAndLogin(limited, { email: newEmail() })
      await mail.next(account.email, VERIFY, 1)
      const loggedOut = await registerAndLogin(limited, { email: newEmail() })
      await mail.next(loggedOut.email, VERIFY, 1)
      t.equal((await limited.inject({ method: 'POST', url: '/api/logout', headers: bearer(loggedOut.token) })).statusCode, 200)
      const cases: [string, Record<string, string>, string][] = [
        ['no token', {}, 'TOKEN_MISSING'],
        ['a malformed token', bearer('not.a.token'), 'TOKEN_INVALID'],
        ['not a Bearer header', { authorization: 'Basic dXNlcjpwYXNz' }, 'TOKEN_MISSING'],
        ['a logged-out token', bearer(loggedOut.token), 'TOKEN_REVOKED']
      ]
      for (const [name, headers, code] of cases) {
        await t.test(name, async (t) => assertError(t, await limited.inject({ method: 'POST', url: '/api/email/resend', headers }), 401, code))
      }
      t.equal((await resend(limited, account.token)).statusCode, 202)
      const again = await resend(limited, account.token)
      assertError(t, again, 429, 'RATE_LIMITED')
      t.ok(again.headers['retry-after'])
      await mail.next(account.email, VERIFY, 2)
      t.equal(mail.to(account.email, VERIFY).length, 2, 'the registration mail and one resend: the refused one sent nothing')
      t.equal(mail.to(loggedOut.email, VERIFY).length, 1, 'only the registration mail for the logged-out account')
    })

    t.test('the link expires after EMAIL_VERIFICATION_TTL, by the clock', async (t) => {
      const account = await registerAndLogin(app, { email: newEmail() })
      const token = await linkOf(account.email, 1)
      clock.advance(60 * 60 * 1000)
      assertError(t, await verify(app, { token }), 400, 'VERIFICATION_TOKEN_INVALID')
      // The account's first token has expired with the hour too: a new login asks for the new link.
      t.equal((await resend(app, (await login(app, account.email, account.password)).access_token)).statusCode, 202)
      clock.advance(60 * 60 * 1000 - 1_000)
      t.equal((await verify(app, { token: await linkOf(account.email, 2) })).statusCode, 200, 'a fresh link works until its end')
    })

    t.test('negative cases: a clear 400', async (t) => {
      const cases: [string, unknown, string][] = [
        ['no body', undefined, 'VALIDATION_FAILED'],
        ['no token', {}, 'VALIDATION_FAILED'],
        ['an empty token', { token: '' }, 'VALIDATION_FAILED'],
        ['a token not a string', { token: ['x'] }, 'VALIDATION_FAILED'],
        ['a token over 255', { token: 'a'.repeat(256) }, 'VALIDATION_FAILED'],
        ['a token of another form', { token: 'abc' }, 'VERIFICATION_TOKEN_INVALID'],
        ['an unknown token', { token: 'B'.repeat(43) }, 'VERIFICATION_TOKEN_INVALID']
      ]
      for (const [name, payload, code] of cases) await t.test(name, async (t) => assertError(t, await verify(app, payload), 400, code))
    })

    t.test('REQUIRE_VERIFIED_EMAIL: an unverified account may not log in (403), a wrong password learns nothing', async (t) => {
      const strict = await buildApp(t, { ...env, REQUIRE_VERIFIED_EMAIL: 'true' }, clock)
      const email = newEmail()
      t.equal((await register(strict, email, 'a long passphrase')).statusCode, 201)
      const attempt = (password: string) => strict.inject({ method: 'POST', url: '/api/login', payload: { email, password } })
      assertError(t, await attempt('a long passphrase'), 403, 'EMAIL_NOT_VERIFIED')
      assertError(t, await attempt('not the passphrase'), 401, 'INVALID_CREDENTIALS')
      t.equal((await verify(strict, { token: await linkOf(email, 1) })).statusCode, 200)
      t.equal((await attempt('a long passphrase')).statusCode, 200, 'verified: it logs in')
      // Off (the default): an unverified account logs in.
      const relaxed = newEmail()
      t.equal((await register(app, relaxed, 'a long passphrase')).statusCode, 201)
      t.equal((await login(app, relaxed, 'a long passphrase')).token_type, 'bearer')
    })
  })
}
