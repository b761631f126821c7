import { sign as cryptoSign, generateKeyPairSync, type SignKeyObjectInput } from 'node:crypto'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose'
import t from 'tap'
import { decodeCompact, JwsError, verifyCompact } from '../../src/auth/jws.js'
import type { JsonWebKeySet } from '../../src/schemas/clients.js'

const ALGORITHMS = ['ES256', 'EdDSA', 'Ed25519', 'RS256', 'PS256']

async function keyPair(alg: string, kid: string, options: { modulusLength?: number; crv?: string } = {}): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...options })
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid } }
}

const sign = (key: CryptoKey, header: Record<string, unknown>, claims: Record<string, unknown> = { sub: 'c' }) =>
  new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key)

const setOf = (...keys: JWK[]): JsonWebKeySet => ({ keys: keys as JsonWebKeySet['keys'] })
const fixed = (jwks: JsonWebKeySet) => async () => jwks

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
    return 'verified'
  } catch (error) {
    return error instanceof JwsError ? error.kind : `unexpected ${String(error)}`
  }
}

t.test('each algorithm verifies with a matching key, and the payload comes back', async (t) => {
  for (const alg of ['ES256', 'EdDSA', 'Ed25519', 'RS256', 'PS256']) {
    const { privateKey, jwk } = await keyPair(alg, `k-${alg}`)
    const token = await sign(privateKey, { alg, kid: `k-${alg}` }, { sub: alg })
    t.same(await verifyCompact(token, ALGORITHMS, fixed(setOf(jwk))), { sub: alg }, alg)
  }
})

t.test('RFC 9864: a key registered as EdDSA verifies an Ed25519 signature, and the other way round', async (t) => {
  const { privateKey, jwk } = await keyPair('Ed25519', 'ed')
  t.same(await verifyCompact(await sign(privateKey, { alg: 'Ed25519', kid: 'ed' }), ALGORITHMS, fixed(setOf({ ...jwk, alg: 'EdDSA' }))), { sub: 'c' })
  t.same(await verifyCompact(await sign(privateKey, { alg: 'EdDSA', kid: 'ed' }), ALGORITHMS, fixed(setOf({ ...jwk, alg: 'Ed25519' }))), { sub: 'c' })
})

t.test('negative cases: each refused with its kind, none verified, none thrown as anything else', async (t) => {
  const es = await keyPair('ES256', 'es')
  const other = await keyPair('ES256', 'es')
  const ed = await keyPair('Ed25519', 'ed')
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 })
  const smallJwk = { ...(small.publicKey.export({ format: 'jwk' }) as JWK), kid: 'rsa' }
  const good = await sign(es.privateKey, { alg: 'ES256', kid: 'es' })
  const [header, payload, signature] = good.split('.') as [string, string, string]
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const hmac = await new SignJWT({ sub: 'c' }).setProtectedHeader({ alg: 'HS256', kid: 'es' }).sign(new TextEncoder().encode('a secret of thirty-two bytes!!!!'))
  const p384 = await keyPair('ES384', 'es')
  // Signed by hand: jose will not sign a header whose crit it does not know, nor with a small RSA key.
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const raw = { jwk: { ...(ec.publicKey.export({ format: 'jwk' }) as JWK), kid: 'es' } }
  const byHand = (rawHeader: Record<string, unknown>, key: SignKeyObjectInput) => {
    const input = `${encode(rawHeader)}.${encode({ sub: 'c' })}`
    return `${input}.${cryptoSign('sha256', Buffer.from(input), key).toString('base64url')}`
  }
  const signedRaw = (rawHeader: Record<string, unknown>) => byHand(rawHeader, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' })
  t.same(await verifyCompact(signedRaw({ alg: 'ES256', kid: 'es' }), ALGORITHMS, fixed(setOf(raw.jwk))), { sub: 'c' }, 'the hand-signed token verifies without crit')

  const cases: Array<[string, Promise<string>, string]> = [
    ['alg none', refusal(verifyCompact(`${encode({ alg: 'none' })}.${payload}.`, ALGORITHMS, fixed(setOf(es.jwk)))), 'algorithm'],
    ['alg none with a signature', refusal(verifyCompact(`${encode({ alg: 'none', kid: 'es' })}.${payload}.${signature}`, ALGORITHMS, fixed(setOf(es.jwk)))), 'algorithm'],
    ['HMAC (HS256)', refusal(verifyCompact(hmac, ALGORITHMS, fixed(setOf(es.jwk)))), 'algorithm'],
    ['an algorithm outside the list given', refusal(verifyCompact(good, ['RS256'], fixed(setOf(es.jwk)))), 'algorithm'],
    ['no alg', refusal(verifyCompact(`${encode({ kid: 'es' })}.${payload}.${signature}`, ALGORITHMS, fixed(setOf(es.jwk)))), 'algorithm'],
    ['a crit header, signed', refusal(verifyCompact(signedRaw({ alg: 'ES256', kid: 'es', crit: ['b64'], b64: false }), ALGORITHMS, fixed(setOf(raw.jwk)))), 'malformed'],
    ['another key under the same kid', refusal(verifyCompact(good, ALGORITHMS, fixed(setOf(other.jwk)))), 'signature'],
    ['an unknown kid', refusal(verifyCompact(good, ALGORITHMS, fixed(setOf({ ...es.jwk, kid: 'other' })))), 'no-key'],
    ['a key of another type (OKP for ES256)', refusal(verifyCompact(good, ALGORITHMS, fixed(setOf({ ...ed.jwk, kid: 'es' })))), 'no-key'],
    ['a key on another curve (P-384 for ES256)', refusal(verifyCompact(good, ALGORITHMS, fixed(setOf(p384.jwk)))), 'no-key'],
    ['a key registered for another alg', refusal(verifyCompact(good, ALGORITHMS, fixed(setOf({ ...es.jwk, alg: 'RS256' })))), 'no-key'],
    ['a key for encryption (use enc)', refusal(verifyCompact(good, ALGORITHMS, fixed(setOf({ ...es.jwk, use: 'enc' })))), 'no-key'],
    ['a SPIFFE X.509 root (use x509-svid)', refusal(verifyCompact(good, ALGORITHMS, fixed(setOf({ ...es.jwk, use: 'x509-svid' })))), 'no-key'],
    ['key_ops without verify', refusal(verifyCompact(good, ALGORITHMS, fixed(setOf({ ...es.jwk, key_ops: ['encrypt'] })))), 'no-key'],
    ['a key with a private part', refusal(verifyCompact(good, ALGORITHMS, fixed(setOf({ ...es.jwk, d: 'AAAA' })))), 'no-key'],
    ['a key that does not import', refusal(verifyCompact(good, ALGORITHMS, fixed(setOf({ ...es.jwk, x: 'AA' })))), 'no-key'],
    ['an RSA key under 2048 bits', refusal(verifyCompact(byHand({ alg: 'RS256', kid: 'rsa' }, { key: small.privateKey }), ALGORITHMS, fixed(setOf(smallJwk)))), 'no-key'],
    ['a tampered payload', refusal(verifyCompact(`${header}.${encode({ sub: 'admin' })}.${signature}`, ALGORITHMS, fixed(setOf(es.jwk)))), 'signature'],
    ['a signature of the wrong length', refusal(verifyCompact(`${header}.${payload}.${signature.slice(0, 20)}`, ALGORITHMS, fixed(setOf(es.jwk)))), 'signature'],
    ['a signature that is not base64url', refusal(verifyCompact(`${header}.${payload}.${signature.slice(0, -2)}+/`, ALGORITHMS, fixed(setOf(es.jwk)))), 'malformed'],
    ['two parts', refusal(verifyCompact(`${header}.${payload}`, ALGORITHMS, fixed(setOf(es.jwk)))), 'malformed'],
    ['four parts', refusal(verifyCompact(`${good}.x`, ALGORITHMS, fixed(setOf(es.jwk)))), 'malformed'],
    ['a payload that is not JSON', refusal(verifyCompact(`${header}.${Buffer.from('nope').toString('base64url')}.${signature}`, ALGORITHMS, fixed(setOf(es.jwk)))), 'malformed'],
    ['a payload that is a JSON array', refusal(verifyCompact(`${header}.${encode(['sub'])}.${signature}`, ALGORITHMS, fixed(setOf(es.jwk)))), 'malformed'],
    ['an empty set', refusal(verifyCompact(good, ALGORITHMS, fixed(setOf()))), 'no-key']
  ]
  for (const [name, outcome, kind] of cases) t.equal(await outcome, kind, name)
})

t.test('an unknown kid asks for the set once more (a rotation at the issuer); a known one does not', async (t) => {
  const old = await keyPair('ES256', 'old')
  const rotated = await keyPair('ES256', 'new')
  const asked: boolean[] = []
  const keys = async (refresh: boolean) => {
    asked.push(refresh)
    return refresh ? setOf(old.jwk, rotated.jwk) : setOf(old.jwk)
  }
  t.same(await verifyCompact(await sign(rotated.privateKey, { alg: 'ES256', kid: 'new' }), ALGORITHMS, keys), { sub: 'c' })
  t.same(asked, [false, true], 'the cached set first, then a fresh one')
  asked.length = 0
  t.same(await verifyCompact(await sign(old.privateKey, { alg: 'ES256', kid: 'old' }), ALGORITHMS, keys), { sub: 'c' })
  t.same(asked, [false], 'a key the cached set has: no second fetch')
})

t.test('without a kid, every key of the right type is tried', async (t) => {
  const first = await keyPair('ES256', 'a')
  const second = await keyPair('ES256', 'b')
  const token = await sign(second.privateKey, { alg: 'ES256' })
  t.same(await verifyCompact(token, ALGORITHMS, fixed(setOf(first.jwk, second.jwk))), { sub: 'c' })
})

t.test('decodeCompact reads without verifying, and says undefined for what is not a JWS', async (t) => {
  const { privateKey } = await keyPair('ES256', 'k')
  t.same(decodeCompact(await sign(privateKey, { alg: 'ES256', kid: 'k' }, { iss: 'x' }))?.payload, { iss: 'x' })
  for (const value of ['', 'a.b', 'a.b.c', '..', 'e30.e30.', 'e30.W10.x']) t.equal(decodeCompact(value)?.payload.x, undefined, JSON.stringify(value))
  t.equal(decodeCompact('e30.W10.x'), undefined, 'an array payload is not a claims set')
})
