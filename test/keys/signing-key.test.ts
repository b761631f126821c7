import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { calculateJwkThumbprint } from 'jose'
import { test } from 'tap'
import { ConfigError, loadConfig } from '../../src/config.js'
import { generatePrivateKey, loadSigningKey, parseSigningKey } from '../../src/keys/signing-key.js'

for (const alg of ['ES256', 'EdDSA', 'RS256', 'HS256'] as const) {
  test(`${alg}: generated once into DATA_DIR with mode 0600, reused after a restart`, async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keys-test-'))
    const config = loadConfig({ DATA_DIR: dataDir, JWT_ALGORITHM: alg })
    const first = loadSigningKey(config)
    const file = join(dataDir, `signing-key.${alg.toLowerCase()}.pem`)
    t.equal(statSync(file).mode & 0o777, 0o600)
    t.equal(loadSigningKey(config).kid, first.kid, 'the same key the second time')
    t.equal(first.alg, alg)
    if (alg === 'HS256') {
      t.equal(first.publicJwk, undefined, 'a symmetric key is never published')
      t.equal(first.kid, await calculateJwkThumbprint({ kty: 'oct', k: Buffer.from(first.privateKey).toString('base64url') }), 'kid: the RFC 7638 thumbprint, as jose computes it')
    } else {
      t.match(first.publicJwk, { kid: first.kid, alg, use: 'sig' })
      t.notOk('d' in first.publicJwk!, 'no private member in the public JWK')
      t.equal(first.kid, await calculateJwkThumbprint(first.publicJwk!), 'kid: the RFC 7638 thumbprint, as jose computes it')
    }
  })
}

test('a key file is used as is, and must fit the algorithm', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keys-test-'))
  const file = join(dir, 'key.pem')
  writeFileSync(file, generatePrivateKey('ES256'))
  const key = loadSigningKey(loadConfig({ JWT_PRIVATE_KEY_FILE: file }))
  t.equal(key.kid, parseSigningKey('ES256', readFileSync(file, 'utf8'), file).kid)
  t.throws(() => loadSigningKey(loadConfig({ JWT_PRIVATE_KEY_FILE: file, JWT_ALGORITHM: 'RS256' })), { message: /JWT_ALGORITHM=RS256 needs an RSA key/ })
  const weakRsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  t.throws(() => parseSigningKey('RS256', weakRsa, 'weak'), ConfigError, 'RSA under 2048 bits is refused')
  t.throws(() => parseSigningKey('HS256', 'short', 'secret'), { message: /at least 32 bytes/ })
  t.throws(() => parseSigningKey('ES256', 'not a pem', 'garbage'), { message: /not a PEM private key/ })
  // A PEM key is long enough to pass for an HMAC secret: HS256 pointed at one is a setting gone wrong.
  t.throws(() => parseSigningKey('HS256', readFileSync(file, 'utf8'), 'JWT_PRIVATE_KEY_FILE=key.pem'), {
    message: 'JWT_PRIVATE_KEY_FILE=key.pem: JWT_ALGORITHM=HS256 takes a shared secret, but this is a PEM key; for this key set JWT_ALGORITHM=ES256'
  })
  const publicPem = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString()
  t.throws(() => parseSigningKey('HS256', publicPem, 'public.pem'), { message: 'public.pem: JWT_ALGORITHM=HS256 takes a shared secret, but this is a PEM key' })
  t.throws(() => loadSigningKey(loadConfig({ JWT_PRIVATE_KEY_FILE: join(dir, 'missing.pem') })), { message: /JWT_PRIVATE_KEY_FILE=/ })
})

test('NODE_ENV=production refuses to generate a key', async (t) => {
  const config = loadConfig({ NODE_ENV: 'production', ISSUER: 'https://auth.example.com', DATA_DIR: mkdtempSync(join(tmpdir(), 'keys-test-')) })
  t.throws(() => loadSigningKey(config), { message: /JWT_PRIVATE_KEY_FILE is required when NODE_ENV=production/ })
})
