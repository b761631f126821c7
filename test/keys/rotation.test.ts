import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { test } from 'tap'
import { generatePrivateKey } from '../../src/keys/signing-key.js'
import { assertError, bearer, buildApp, registerAndLogin, storeEnv } from '../helper.js'

test('key rotation without downtime: publish next, switch, keep retired until its tokens expire', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rotation-'))
  const [oldKey, newKey] = [join(dir, 'old.pem'), join(dir, 'new.pem')]
  writeFileSync(oldKey, generatePrivateKey('ES256'), { mode: 0o600 })
  writeFileSync(newKey, generatePrivateKey('ES256'), { mode: 0o600 })
  const env = await storeEnv(t, 'redis-postgres')
  const kids = async (app: Awaited<ReturnType<typeof buildApp>>) => (await app.inject({ url: '/.well-known/jwks.json' })).json().keys.map((k: { kid: string }) => k.kid)

  const before = await buildApp(t, { ...env, JWT_PRIVATE_KEY_FILE: oldKey })
  const oldKid = before.auth.keys.signing.kid
  const account = await registerAndLogin(before)
  t.equal(decodeProtectedHeader(account.token).kid, oldKid)

  // Step 1: the next key is published (and accepted) before anyone signs with it.
  const publishing = await buildApp(t, { ...env, JWT_PRIVATE_KEY_FILE: oldKey, JWT_NEXT_KEY_FILE: newKey })
  t.equal(publishing.auth.keys.signing.kid, oldKid, 'still signs with the old key')
  const newKid = (await kids(publishing)).find((kid: string) => kid !== oldKid)
  t.ok(newKid, 'the JWKS has the next key')

  // Step 2: sign with the new key; the old one is retired but still verifies.
  const switched = await buildApp(t, { ...env, JWT_PRIVATE_KEY_FILE: newKey, JWT_RETIRED_KEY_FILES: oldKey })
  t.equal(switched.auth.keys.signing.kid, newKid)
  t.same((await kids(switched)).sort(), [oldKid, newKid].sort(), 'the JWKS keeps the retired key')
  t.equal((await switched.inject({ url: '/api/user', headers: bearer(account.token) })).statusCode, 200, 'a token of the retired key still works')
  const child = (await switched.inject({ method: 'POST', url: '/api/refresh', headers: bearer(account.token) })).json().access_token as string
  t.equal(decodeProtectedHeader(child).kid, newKid, 'a refresh moves the session to the new key')
  t.equal((await publishing.inject({ url: '/api/user', headers: bearer(child) })).statusCode, 200, 'an instance not yet switched accepts the new key (rolling restart)')
  const jwks = createLocalJWKSet((await switched.inject({ url: '/.well-known/jwks.json' })).json())
  const fresh = await registerAndLogin(switched)
  await t.resolves(jwtVerify(fresh.token, jwks, { issuer: 'http://auth.test' }), 'jose verifies a token of the new key from the JWKS')
  await t.resolves(jwtVerify(child, jwks, { issuer: 'http://auth.test' }), 'and the child refreshed from a token of the retired key')

  // Step 3: once every token of the old key has expired, the retired key goes.
  const after = await buildApp(t, { ...env, JWT_PRIVATE_KEY_FILE: newKey })
  t.same(await kids(after), [newKid])
  assertError(t, await after.inject({ url: '/api/user', headers: bearer(before.auth.issuer.signUser({ sub: 'x', sid: 'y', auth_time: 1, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 60 }).token) }), 401, 'TOKEN_INVALID')
})

test('next and retired keys must be private PEM keys', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rotation-'))
  const secret = join(dir, 'hs.key')
  writeFileSync(secret, generatePrivateKey('HS256'))
  const env = await storeEnv(t, 'embedded')
  await t.rejects(buildApp(t, { ...env, JWT_NEXT_KEY_FILE: secret }), { message: /JWT_NEXT_KEY_FILE=.*not a PEM private key/ })
  await t.rejects(buildApp(t, { ...env, JWT_RETIRED_KEY_FILES: join(dir, 'missing.pem') }), { message: /JWT_RETIRED_KEY_FILES=/ })
})
