/**
 * auth.verifier, without HTTP, against both store modes: a table of tokens it must refuse (forged,
 * foreign, of the wrong kind, garbage) and of tokens it must accept (incl. a retired key after a key
 * rotation); time boundaries decided by the clock; and failing closed (503) when Redis is down.
 */
import { copyFileSync, writeFileSync } from 'node:fs'
import { generateKeyPairSync } from 'node:crypto'
import { join } from 'node:path'
import { importPKCS8, SignJWT } from 'jose'
import { test } from 'tap'
import { settableClock, toSeconds } from '../../src/auth/clock.js'
import { ServiceError, StoreUnavailableError } from '../../src/errors.js'
import { generatePrivateKey } from '../../src/keys/signing-key.js'
import { claimsOf, freePort, STORE_MODES, storeEnv } from '../helper.js'
import { codeOf, FROM, login, openTestAuth, openTestAuthWith, PASSWORD, register, type TestAuth } from './support.js'

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
const KEY_FILE = 'signing-key.es256.pem'

/** A user token and a client token of `auth`, from a real login and a real grant. */
async function genuineTokens({ auth }: TestAuth): Promise<{ user: string; client: string }> {
  const { token } = await login(auth, (await register(auth)).email)
  const { client } = await auth.clients.create('billing', { scopes: ['orders:read'], audiences: ['https://orders.test'], privileges: [] })
  return { user: token, client: (await auth.clientTokens.issue(client, {})).access_token }
}

for (const mode of STORE_MODES) {
  test(`tokens the verifier refuses (${mode})`, async (t) => {
    const ours = await openTestAuth(t, mode)
    const { auth, clock, env } = ours
    const genuine = await genuineTokens(ours)
    const [header64, payload64, signature64] = genuine.user.split('.') as [string, string, string]
    const claims = claimsOf(genuine.user)
    const key = auth.keys.signing
    const realKey = await importPKCS8(String(key.privateKey), key.alg)
    const withRealKey = (payload: Record<string, unknown>, header: Record<string, unknown> = {}) =>
      new SignJWT(payload).setProtectedHeader({ alg: key.alg, typ: 'JWT', kid: key.kid, ...header }).sign(realKey)
    const strangerPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    const stranger = await importPKCS8(strangerPem, 'ES256')

    // Another deployment: another ISSUER and its own key, generated into its own DATA_DIR.
    const foreign = await openTestAuth(t, mode, { ISSUER: 'http://other.test' }, settableClock(clock.now()))
    // Another ISSUER with our very key (copied into its own DATA_DIR): only `iss` tells them apart.
    const twinEnv = await storeEnv(t, mode, { ISSUER: 'http://twin.test' })
    copyFileSync(join(env.DATA_DIR!, KEY_FILE), join(twinEnv.DATA_DIR!, KEY_FILE))
    const twin = await openTestAuthWith(t, twinEnv, settableClock(clock.now()))
    t.equal(twin.auth.keys.signing.kid, key.kid, 'the twin signs with our key')
    const now = toSeconds(clock.now())
    const userClaims = { sub: claims.sub as string, sid: claims.sid as string, auth_time: now, iat: now, exp: now + 60 }

    const rows: [string, string | Promise<string>, 'verify' | 'verifyUser', string][] = [
      ['alg none', `${b64({ alg: 'none', typ: 'JWT', kid: key.kid })}.${payload64}.`, 'verify', 'TOKEN_INVALID'],
      ['alg none, the genuine signature kept', `${b64({ alg: 'none', typ: 'JWT', kid: key.kid })}.${payload64}.${signature64}`, 'verify', 'TOKEN_INVALID'],
      ['HS256 with our public key as the secret', new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: key.kid }).sign(Buffer.from(String(key.publicKey))), 'verify', 'TOKEN_INVALID'],
      ['tampered payload (another sub)', `${header64}.${b64({ ...claims, sub: 'someone-else' })}.${signature64}`, 'verify', 'TOKEN_INVALID'],
      ['tampered payload (later exp)', `${header64}.${b64({ ...claims, exp: (claims.exp as number) + 3600 })}.${signature64}`, 'verify', 'TOKEN_INVALID'],
      ['tampered client token (more scope)', (([h, , s]) => `${h}.${b64({ ...claimsOf(genuine.client), scope: 'admin' })}.${s}`)(genuine.client.split('.') as [string, string, string]), 'verify', 'TOKEN_INVALID'],
      ['an unknown kid (a stranger key)', new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: 'unknown' }).sign(stranger), 'verify', 'TOKEN_INVALID'],
      ['a stranger key under our kid', new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: key.kid }).sign(stranger), 'verify', 'TOKEN_INVALID'],
      ['our key, an unknown kid', withRealKey(claims, { kid: 'unknown' }), 'verify', 'TOKEN_INVALID'],
      ['our key, no kid', withRealKey(claims, { kid: undefined }), 'verify', 'TOKEN_INVALID'],
      ['our key, a user token typed at+jwt', withRealKey(claims, { typ: 'at+jwt' }), 'verify', 'TOKEN_INVALID'],
      ['our key, no sid', withRealKey({ ...claims, sid: undefined }), 'verify', 'TOKEN_INVALID'],
      ['our key, a session that never existed', withRealKey({ ...claims, sid: 'no-such-session' }), 'verify', 'TOKEN_REVOKED'],
      ['another deployment (other ISSUER, its own key)', foreign.auth.issuer.signUser(userClaims).token, 'verify', 'TOKEN_INVALID'],
      ['another ISSUER signing with our key', twin.auth.issuer.signUser(userClaims).token, 'verify', 'TOKEN_INVALID'],
      ['a client token presented to verifyUser', genuine.client, 'verifyUser', 'TOKEN_INVALID'],
      ['the empty string', '', 'verify', 'TOKEN_INVALID'],
      ['not a JWT', 'hello', 'verify', 'TOKEN_INVALID'],
      ['three dots of nothing', '..', 'verify', 'TOKEN_INVALID'],
      ['base64 garbage', 'eyJ.eyJ.eyJ', 'verify', 'TOKEN_INVALID'],
      ['a JSON array as header', `${b64([1])}.${payload64}.${signature64}`, 'verify', 'TOKEN_INVALID'],
      ['a truncated signature', genuine.user.slice(0, -8), 'verify', 'TOKEN_INVALID'],
      ['a very long token', `${genuine.user}${'A'.repeat(10_000)}`, 'verify', 'TOKEN_INVALID']
    ]
    for (const [description, token, method, code] of rows) {
      const error = await auth.verifier[method](await token).catch((e: unknown) => e)
      t.ok(error instanceof ServiceError, `${description}: a ServiceError`)
      t.match(error, { code, statusCode: 401 }, `${description}: ${code}`)
    }
    await t.resolves(auth.verifier.verify(genuine.user), 'the genuine tokens still verify afterwards')
  })

  test(`tokens the verifier accepts (${mode})`, async (t) => {
    const ours = await openTestAuth(t, mode)
    const { auth, env, clock } = ours
    const genuine = await genuineTokens(ours)
    const user = claimsOf(genuine.user)
    t.same(await auth.verifier.verify(genuine.user), { kind: 'user', claims: user }, 'a user token')
    t.same(await auth.verifier.verifyUser(genuine.user), user, 'verifyUser of a user token')
    t.same(await auth.verifier.verify(genuine.client, { audience: 'https://orders.test' }), { kind: 'client', claims: claimsOf(genuine.client) }, 'a client token')
    const rotated = await auth.sessions.rotate(genuine.user)
    if (rotated.outcome === 'rotated') t.equal((await auth.verifier.verifyUser(rotated.response.access_token)).sid, user.sid, 'a rotated child')

    // Key rotation: a new signing key, ours retired; the same stores.
    const nextKey = join(env.DATA_DIR!, 'next.pem')
    writeFileSync(nextKey, generatePrivateKey('ES256'))
    const rotatedKeys = await openTestAuthWith(t, { ...env, JWT_PRIVATE_KEY_FILE: nextKey, JWT_RETIRED_KEY_FILES: join(env.DATA_DIR!, KEY_FILE) }, settableClock(clock.now()))
    t.not(rotatedKeys.auth.keys.signing.kid, auth.keys.signing.kid, 'a new key signs')
    if (rotated.outcome === 'rotated') await t.resolves(rotatedKeys.auth.verifier.verify(rotated.response.access_token), 'a user token of the retired key')
    await t.resolves(rotatedKeys.auth.verifier.verify(genuine.client, { audience: 'https://orders.test' }), 'a client token of the retired key')
    const fresh = await login(rotatedKeys.auth, (await register(rotatedKeys.auth)).email)
    await t.resolves(rotatedKeys.auth.verifier.verify(fresh.token), 'a token of the new key')
    await t.rejects(auth.verifier.verify(fresh.token), { code: 'TOKEN_INVALID' }, 'which an instance without that key refuses (unknown kid)')
  })

  // Found by these cases: a token accepted at exactly exp, where its embedded deny-list entry had already
  // ended (a rotated token rotated twice); and Redis' own clock ending a deny-list entry early.
  test(`time boundaries decided by the clock (${mode})`, async (t) => {
    t.test('from exp on, a token is refused (RFC 7519 §4.1.4)', async (t) => {
      const { auth, clock } = await openTestAuth(t, mode)
      const { token } = await login(auth, (await register(auth)).email)
      clock.set((claimsOf(token).exp as number) * 1000)
      t.equal(await codeOf(auth.verifier.verify(token)), 'TOKEN_EXPIRED', 'verify at exp')
      clock.advance(-1)
      t.equal(await codeOf(auth.verifier.verify(token)), 'resolved', 'and accepted a millisecond before')
    })

    t.test('a rotated token is never accepted again, even at its exp', async (t) => {
      const { auth, clock } = await openTestAuth(t, mode)
      const { token } = await login(auth, (await register(auth)).email)
      t.equal((await auth.sessions.rotate(token)).outcome, 'rotated')
      clock.set((claimsOf(token).exp as number) * 1000)
      t.match(await codeOf(auth.verifier.verify(token)), /^TOKEN_(EXPIRED|REVOKED)$/, 'the parent at its exp')
      const again = await auth.sessions.rotate(token).then((r) => r.outcome, (e: { code?: string }) => e.code)
      t.not(again, 'rotated', 'and it is not rotated a second time (exactly-once)')
    })

    t.test('a rotated token stays refused when the service clock is behind the store clock', async (t) => {
      // 30 s behind, 20 s tokens: by the store's clock (Redis' own, for its deny-list TTLs) a rotated token's
      // entry is gone while the service still thinks the token live. The store must fail closed, not re-admit it.
      const { auth } = await openTestAuth(t, mode, { ACCESS_TOKEN_TTL: '20' }, settableClock(Date.now() - 30_000))
      const { token } = await login(auth, (await register(auth)).email)
      const first = (await auth.sessions.rotate(token)).outcome
      t.match(first, /^(rotated|revoked)$/, 'rotated, or refused as over by the store clock')
      t.match(await codeOf(auth.verifier.verify(token)), /^TOKEN_REVOKED$/, 'the parent, 10 s before its exp by the service clock')
      t.not((await auth.sessions.rotate(token)).outcome, 'rotated', 'and it is never rotated twice')
    })
  })
}

test('verify fails closed when Redis is down: 503 STORE_UNAVAILABLE, never a verdict', async (t) => {
  // Embedded users (no DATABASE_URL), revocations on a Redis nobody listens on.
  const env = await storeEnv(t, 'embedded', { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, REDIS_COMMAND_TIMEOUT_MS: '200' })
  const { auth, clock } = await openTestAuthWith(t, env)
  t.same(await auth.health(), { users: 'ok', clients: 'ok', revocations: 'unavailable' }, 'the revocation store is that Redis, which does not answer')
  const now = toSeconds(clock.now())
  const user = auth.issuer.signUser({ sub: 'a-user', sid: 'a-session', auth_time: now, iat: now, exp: now + 60 }).token
  const client = auth.issuer.signClient({ sub: 'svc', client_id: 'svc', aud: 'http://auth.test', scope: 'x', iat: now, exp: now + 60 }).token

  const calls: [string, () => Promise<unknown>][] = [
    ['verify of a user token', () => auth.verifier.verify(user)],
    ['verifyUser', () => auth.verifier.verifyUser(user)],
    ['verify of a client token', () => auth.verifier.verify(client)],
    ['rotate', () => auth.sessions.rotate(user)]
  ]
  for (const [description, call] of calls) {
    const error = await call().then(() => 'accepted', (e: unknown) => e)
    t.ok(error instanceof StoreUnavailableError, `${description}: StoreUnavailableError`)
    t.match(error, { code: 'STORE_UNAVAILABLE', statusCode: 503, headers: { 'retry-after': '1' } }, `${description}: 503`)
  }
  const { email } = await register(auth)
  await t.rejects(auth.sessions.login(email, PASSWORD, FROM), { code: 'STORE_UNAVAILABLE' }, 'login cannot start a session')
  t.match(await auth.health(), { users: 'ok', clients: 'ok', revocations: 'unavailable' })
})
