/**
 * POST /api/password/forgot and /api/password/reset, against a real SMTP server: the mail is received, parsed
 * and its link followed, on both store configurations.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { test } from 'tap'
import { settableClock } from '../../../src/auth/clock.js'
import { generatePrivateKey } from '../../../src/keys/signing-key.js'
import { assertError, bearer, buildApp, buildLoggedApp, login, registerAndLogin, storeEnv, STORE_MODES, until } from '../../helper.js'
import { linkToken, MailCatcher } from '../../mail.js'

const APP_URL = 'http://app.test'
const NEW_PASSWORD = 'a brand new passphrase'
const RESET = '/reset-password'

const forgot = (instance: FastifyInstance, email: unknown) => instance.inject({ method: 'POST', url: '/api/password/forgot', payload: { email } })
const reset = (instance: FastifyInstance, payload: unknown) => instance.inject({ method: 'POST', url: '/api/password/reset', payload: payload as object })
const newPassword = (token: string) => ({ token, password: NEW_PASSWORD, password_confirmation: NEW_PASSWORD })

for (const mode of STORE_MODES) {
  test(`password reset by mail (${mode})`, async (t) => {
    const mail = await MailCatcher.start(t)
    const clock = settableClock()
    const env = await storeEnv(t, mode, { SMTP_URL: mail.url, APP_URL, MAIL_FROM: 'Accounts <accounts@app.test>', PASSWORD_RESET_TTL: '15m' })
    const a = await buildApp(t, env, clock)
    const b = await buildApp(t, env, clock)
    /** The clock moves on: a login in the very millisecond of a reset's not-before counts as begun before it, and is refused. */
    const later = () => clock.advance(1_000)
    const status = async (instance: typeof a, token: string) => (await instance.inject({ url: '/api/user', headers: bearer(token) })).statusCode

    /** Asks for a reset of the account and follows the mail's link: the token. */
    async function resetToken(email: string): Promise<string> {
      const count = mail.to(email, RESET).length + 1
      const answer = await forgot(a, email)
      t.equal(answer.statusCode, 202)
      return linkToken(await mail.next(email, RESET, count), APP_URL, RESET)
    }

    t.test('a mail with a single-use link; the reset ends every session, on every instance, at once', async (t) => {
      const account = await registerAndLogin(a)
      const onB = (await login(b, account.email, account.password)).access_token
      const answer = await forgot(a, account.email)
      t.equal(answer.statusCode, 202)
      t.same(answer.json(), { status: 'success' })
      const received = await mail.next(account.email, RESET)
      t.equal(received.subject, 'Reset your password')
      t.match(received.from?.text, 'accounts@app.test')
      t.match(received.text, `${APP_URL}/reset-password?token=`)
      t.match(received.html, `href="${APP_URL}/reset-password?token=`, 'an HTML part with the same link')
      const token = linkToken(received, APP_URL, RESET)
      t.ok(Buffer.from(token, 'base64url').length >= 16, 'at least 128 random bits')

      const done = await reset(b, newPassword(token))
      t.equal(done.statusCode, 200)
      t.equal(done.json().status, 'success')
      t.equal(await status(a, account.token), 401, 'the session on instance A ends at once')
      t.equal(await status(b, onB), 401, 'and the one on instance B')
      assertError(t, await b.inject({ method: 'POST', url: '/api/refresh', headers: bearer(onB) }), 401, 'TOKEN_REVOKED')
      later()
      assertError(t, await a.inject({ method: 'POST', url: '/api/login', payload: { email: account.email, password: account.password } }), 401, 'INVALID_CREDENTIALS')
      t.equal((await login(b, account.email, NEW_PASSWORD)).token_type, 'bearer', 'the new password logs in')
      assertError(t, await reset(a, newPassword(token)), 400, 'RESET_TOKEN_INVALID')
    })

    t.test('an unknown address: the same answer, and no mail', async (t) => {
      const known = await registerAndLogin(a)
      const unknown = `nobody-${Date.now()}@example.com`
      const [forUnknown, forKnown] = [await forgot(a, unknown), await forgot(a, known.email)]
      t.equal(forUnknown.statusCode, forKnown.statusCode)
      t.equal(forUnknown.body, forKnown.body)
      await mail.next(known.email, RESET)
      t.equal(mail.to(unknown).length, 0, 'nothing was sent to the unknown address')
    })

    t.test('the token expires after PASSWORD_RESET_TTL, by the clock', async (t) => {
      const account = await registerAndLogin(a)
      const token = await resetToken(account.email)
      clock.advance(15 * 60 * 1000)
      assertError(t, await reset(a, newPassword(token)), 400, 'RESET_TOKEN_INVALID')
      t.equal(await status(a, account.token), 200, 'a refused reset ends nothing')
      const fresh = await resetToken(account.email)
      clock.advance(15 * 60 * 1000 - 1_000)
      t.equal((await reset(a, newPassword(fresh))).statusCode, 200, 'a second before its end it works')
    })

    t.test('a newer request, a completed reset and a password change each end the older tokens', async (t) => {
      const account = await registerAndLogin(a)
      const older = await resetToken(account.email)
      const newer = await resetToken(account.email)
      assertError(t, await reset(a, newPassword(older)), 400, 'RESET_TOKEN_INVALID')
      const changed = await a.inject({ method: 'PUT', url: '/api/user/password', headers: bearer(account.token), payload: { current_password: account.password, password: 'changed by hand!', password_confirmation: 'changed by hand!' } })
      t.equal(changed.statusCode, 200)
      assertError(t, await reset(a, newPassword(newer)), 400, 'RESET_TOKEN_INVALID')
      later()
      t.equal((await login(a, account.email, 'changed by hand!')).token_type, 'bearer', 'the changed password stands')
    })

    t.test('negative cases: a clear 400, and the token is not used up', async (t) => {
      const account = await registerAndLogin(a)
      const token = await resetToken(account.email)
      const valid = newPassword(token)
      const cases: [string, unknown, number, string][] = [
        ['no body', undefined, 400, 'VALIDATION_FAILED'],
        ['no token', { ...valid, token: undefined }, 400, 'VALIDATION_FAILED'],
        ['an empty token', { ...valid, token: '' }, 400, 'VALIDATION_FAILED'],
        ['a token not a string', { ...valid, token: 42 }, 400, 'VALIDATION_FAILED'],
        ['a token of another form', { ...valid, token: 'not-a-token' }, 400, 'RESET_TOKEN_INVALID'],
        ['an unknown token', { ...valid, token: 'A'.repeat(43) }, 400, 'RESET_TOKEN_INVALID'],
        ['the token with a character changed', { ...valid, token: `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}` }, 400, 'RESET_TOKEN_INVALID'],
        ['a password too short', { ...valid, password: 'short', password_confirmation: 'short' }, 400, 'VALIDATION_FAILED'],
        ['a password over 255', { ...valid, password: 'p'.repeat(256), password_confirmation: 'p'.repeat(256) }, 400, 'VALIDATION_FAILED'],
        ['a confirmation that differs', { ...valid, password_confirmation: `${NEW_PASSWORD}!` }, 400, 'VALIDATION_FAILED']
      ]
      for (const [name, payload, code, error] of cases) await t.test(name, async (t) => assertError(t, await reset(a, payload), code, error))
      assertError(t, await a.inject({ method: 'POST', url: '/api/password/reset', headers: { 'content-type': 'application/json' }, payload: '{"token":' }), 400, 'MALFORMED_BODY')
      t.equal(await status(a, account.token), 200, 'no refused reset ended the session')
      t.equal((await reset(a, valid)).statusCode, 200, 'the token still works after all of them')

      const forgotCases: [string, unknown][] = [
        ['no email', undefined],
        ['an empty email', ''],
        ['an email not a string', ['a@example.com']],
        ['an email over 255', `${'a'.repeat(250)}@example.com`],
        ['a NUL in the email', 'a\u0000b@example.com']
      ]
      for (const [name, email] of forgotCases) {
        const answer = await forgot(a, email)
        t.equal(answer.statusCode, 400, name)
        t.equal(answer.json().code, 'VALIDATION_FAILED', name)
      }
    })

    t.test('per email address, known or not, the mails are rate-limited', async (t) => {
      const limited = await buildApp(t, { ...env, RATE_LIMIT_MAIL_PER_EMAIL: '2' }, clock)
      for (const email of ['limited@example.com', 'LIMITED@example.com ']) t.equal((await forgot(limited, email)).statusCode, 202)
      const third = await forgot(limited, 'limited@example.com')
      assertError(t, third, 429, 'RATE_LIMITED')
      t.ok(third.headers['retry-after'])
      t.equal((await forgot(limited, 'other@example.com')).statusCode, 202, 'another address is not limited by it')
    })
  })
}

test('forgot: a known and an unknown address are answered in about the same time (medians of 50 each)', async (t) => {
  const mail = await MailCatcher.start(t)
  const env = await storeEnv(t, 'redis-postgres', { SMTP_URL: mail.url, APP_URL })
  const a = await buildApp(t, env)
  const account = await registerAndLogin(a)
  const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!
  /** One round: 50 requests for each address, alternating, so that what the machine does meanwhile (the mails of earlier requests among it) falls on both alike. */
  async function round(index: number): Promise<{ known: number; unknown: number }> {
    const times: Record<'known' | 'unknown', number[]> = { known: [], unknown: [] }
    for (let i = 0; i < 50; i++) {
      for (const kind of ['known', 'unknown'] as const) {
        const started = performance.now()
        const answer = await forgot(a, kind === 'known' ? account.email : `nobody-${index}-${i}@example.com`)
        times[kind].push(performance.now() - started)
        if (answer.statusCode !== 202) throw new Error(`forgot: ${answer.statusCode}`)
      }
    }
    return { known: median(times.known), unknown: median(times.unknown) }
  }
  // Other test files share this machine's two cores: a round they disturb is run again, at most twice. A
  // difference the service makes (a lookup or a mail before the answer) shows in every round.
  const rounds: { known: number; unknown: number }[] = []
  const within = ({ known, unknown }: { known: number; unknown: number }) => Math.abs(known - unknown) <= 0.2 * Math.max(known, unknown)
  do rounds.push(await round(rounds.length))
  while (!within(rounds.at(-1)!) && rounds.length < 3)
  t.ok(within(rounds.at(-1)!), `medians within 20%: ${rounds.map(({ known, unknown }) => `${known.toFixed(2)} ms known, ${unknown.toFixed(2)} ms unknown`).join('; ')}`)
  await until('the 50 mails', async () => mail.to(account.email, RESET).length === 50 * rounds.length, 30_000)
})

test('without SMTP_URL: in production 503 MAIL_UNAVAILABLE and no token anywhere; in development the mail goes to the log', async (t) => {
  const keyFile = join(mkdtempSync(join(tmpdir(), 'mail-test-')), 'es256.pem')
  writeFileSync(keyFile, generatePrivateKey('ES256'), { mode: 0o600 })
  const production = await buildLoggedApp(t, await storeEnv(t, 'embedded', { NODE_ENV: 'production', ISSUER: 'https://auth.example.com', JWT_PRIVATE_KEY_FILE: keyFile }))
  const account = await registerAndLogin(production.app)
  assertError(t, await forgot(production.app, account.email), 503, 'MAIL_UNAVAILABLE')
  assertError(t, await reset(production.app, newPassword('A'.repeat(43))), 503, 'MAIL_UNAVAILABLE')
  t.equal(production.app.auth.mailer.mode, 'off')
  t.notMatch(production.lines.join('\n'), /reset-password\?token=|verify-email\?token=/, 'no link, and so no token, in the log')
  t.equal((await login(production.app, account.email, account.password)).token_type, 'bearer', 'registration and login go on without mail')

  const development = await buildLoggedApp(t, await storeEnv(t, 'embedded', { APP_URL }))
  t.equal(development.app.auth.mailer.mode, 'log')
  const dev = await registerAndLogin(development.app)
  t.equal((await forgot(development.app, dev.email)).statusCode, 202)
  await until('the mail in the log', async () => development.lines.some((line) => line.includes('/reset-password?token=')), 5_000)
  const line = JSON.parse(development.lines.find((entry) => entry.includes('/reset-password?token='))!) as { mail: { to: string; body: string } }
  t.equal(line.mail.to, dev.email)
  const token = new URL(line.mail.body.split(/\s+/).find((word) => word.startsWith(`${APP_URL}/reset-password`))!).searchParams.get('token')!
  t.equal((await reset(development.app, newPassword(token))).statusCode, 200, "the logged link's token resets the password")
})

test('a mail that cannot be sent: the same answer, and a log line with its cause but never its token', async (t) => {
  const mail = await MailCatcher.start(t)
  const { app: instance, lines } = await buildLoggedApp(t, await storeEnv(t, 'embedded', { SMTP_URL: mail.urlWithWrongPassword, APP_URL }))
  const account = await registerAndLogin(instance)
  const answer = await forgot(instance, account.email)
  t.equal(answer.statusCode, 202)
  t.same(answer.json(), { status: 'success' })
  await until('the failure in the log', async () => lines.some((line) => line.includes('mail not sent') && line.includes('password reset')), 10_000)
  const failure = lines.find((line) => line.includes('mail not sent') && line.includes('password reset'))!
  t.match(JSON.parse(failure), { level: 50, err: { message: /auth|credentials|535/i }, purpose: 'password reset' })
  t.notMatch(lines.join('\n'), /token=|smtp secret|wrong@/, 'neither the link nor the SMTP password in any line')
  t.equal(mail.mails.length, 0, 'the server took no mail')
})
