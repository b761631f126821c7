/** DPoP proofs (RFC 9449 §4.3): what a real client sends passes, and each check refuses what it is for. */
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose'
import * as oauth from 'oauth4webapi'
import { test } from 'tap'
import { ProofReplayCache } from '@jwt-auth-service/verifier/feed'
import { accessTokenHash, htuOf, jwkThumbprint, verifyDpopProof, type ProofRequest } from '../../src/auth/dpop.js'

const NOW = Date.UTC(2026, 11, 6, 12, 0, 0)
const URL_ = 'https://api.example.com/orders'
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2ln'
const check = (proof: string, more: Partial<ProofRequest> = {}): ProofRequest => ({ proof, method: 'GET', url: URL_, now: NOW, maxAgeSeconds: 60, ...more })

type Pair = { privateKey: CryptoKey; jwk: JWK }
async function pair(alg: string, options: { modulusLength?: number } = {}): Promise<Pair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...options })
  return { privateKey, jwk: await exportJWK(publicKey) }
}

/** A proof as RFC 9449 §4.2 shapes it, with each part overridable. */
async function proof(signer: Pair, options: { alg?: string; header?: Record<string, unknown>; claims?: Record<string, unknown> } = {}): Promise<string> {
  const alg = options.alg ?? 'ES256'
  return new SignJWT({ jti: randomUUID(), htm: 'GET', htu: URL_, iat: NOW / 1000, ath: accessTokenHash(TOKEN), ...options.claims })
    .setProtectedHeader({ typ: 'dpop+jwt', alg, jwk: signer.jwk, ...options.header } as never)
    .sign(signer.privateKey)
}

test('a proof by each allowed algorithm passes, and names its key by its RFC 7638 thumbprint', async (t) => {
  for (const [alg, options] of [['ES256', {}], ['EdDSA', {}], ['RS256', { modulusLength: 2048 }], ['PS256', { modulusLength: 2048 }]] as const) {
    const signer = await pair(alg, options)
    const verified = verifyDpopProof(check(await proof(signer, { alg }), { accessToken: TOKEN }))
    t.equal(verified.jkt, await calculateJwkThumbprint(signer.jwk, 'sha256'), `${alg}: jose's thumbprint`)
    t.equal(verified.expiresAt, NOW + 90_000, `${alg}: replayable until iat + max age + 30 s of skew`)
  }
})

test("oauth4webapi's proof, as a real client sends it to a resource server, passes", async (t) => {
  const keyPair = await generateKeyPair('ES256')
  const dpop = oauth.DPoP({ client_id: 'spa' } as oauth.Client, keyPair as Parameters<typeof oauth.DPoP>[1])
  let sent: Headers | undefined
  const customFetch = async (_url: string, init: RequestInit) => {
    sent = new Headers(init.headers)
    return new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } })
  }
  await oauth.protectedResourceRequest(TOKEN, 'POST', new URL(`${URL_}?page=2`), new Headers(), '{}', { DPoP: dpop, [oauth.customFetch]: customFetch })
  t.equal(sent?.get('authorization'), `DPoP ${TOKEN}`)
  const verified = verifyDpopProof({ ...check(sent!.get('dpop')!, { method: 'POST', url: `${URL_}?page=2`, accessToken: TOKEN }), now: Date.now() })
  t.equal(verified.jkt, await dpop.calculateThumbprint(), "the client's own thumbprint")
})

test('each check refuses what it is for', async (t) => {
  const signer = await pair('ES256')
  const other = await pair('ES256')
  const { privateKey: hmacKey } = { privateKey: new TextEncoder().encode('a shared secret of thirty-two bytes!') }
  // What jose refuses to sign (an RSA key under 2048 bits, an unknown critical header), signed with node:crypto.
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const rawProof = (header: object, key: Parameters<typeof sign>[2]) => {
    const input = `${encode(header)}.${encode({ jti: 'x', htm: 'GET', htu: URL_, iat: NOW / 1000 })}`
    return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`
  }
  const weakRsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
  const weakProof = async () => rawProof({ typ: 'dpop+jwt', alg: 'RS256', jwk: weakRsa.publicKey.export({ format: 'jwk' }) }, weakRsa.privateKey)
  const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const criticalProof = async () => rawProof({ typ: 'dpop+jwt', alg: 'ES256', jwk: ecKey.publicKey.export({ format: 'jwk' }), crit: ['exp'], exp: 1 }, { key: ecKey.privateKey, dsaEncoding: 'ieee-p1363' })
  const cases: [string, () => Promise<string>, Partial<ProofRequest>, RegExp][] = [
    ['not a JWS', async () => 'not.a.jws', {}, /not a compact JWS/],
    ['too long', async () => 'a'.repeat(9000), {}, /too long/],
    ['typ JWT', () => proof(signer, { header: { typ: 'JWT' } }), {}, /typ is not dpop\+jwt/],
    ['no jwk', () => proof(signer, { header: { jwk: undefined } }), {}, /no jwk/],
    ['a private jwk', async () => proof(signer, { header: { jwk: await exportJWK(signer.privateKey) } }), {}, /private key/],
    ['a symmetric jwk', () => proof(signer, { header: { jwk: { kty: 'oct', k: 'c2VjcmV0' } } }), {}, /private key|not an EC, OKP or RSA/],
    ['alg none', async () => `${Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'none', jwk: signer.jwk })).toString('base64url')}.${Buffer.from(JSON.stringify({ jti: 'x', htm: 'GET', htu: URL_, iat: NOW / 1000 })).toString('base64url')}.`, {}, /algorithm not allowed|signature/],
    ['HS256', () => new SignJWT({ jti: 'x', htm: 'GET', htu: URL_, iat: NOW / 1000 }).setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk: signer.jwk } as never).sign(hmacKey), {}, /algorithm not allowed/],
    ['signed by another key', () => proof({ privateKey: other.privateKey, jwk: signer.jwk }), {}, /signature does not verify/],
    ['an RSA key under 2048 bits', weakProof, {}, /no key matches/],
    ['a critical extension', criticalProof, {}, /crit/],
    ['another method', () => proof(signer), { method: 'POST' }, /htm/],
    ['another path', () => proof(signer), { url: 'https://api.example.com/payments' }, /htu/],
    ['another host', () => proof(signer), { url: 'https://evil.example.com/orders' }, /htu/],
    ['another scheme', () => proof(signer), { url: 'http://api.example.com/orders' }, /htu/],
    ['an htu that is no URL', () => proof(signer, { claims: { htu: 'orders' } }), {}, /htu/],
    ['no jti', () => proof(signer, { claims: { jti: undefined } }), {}, /jti/],
    ['a jti over 256 characters', () => proof(signer, { claims: { jti: 'j'.repeat(257) } }), {}, /jti/],
    ['no iat', () => proof(signer, { claims: { iat: undefined } }), {}, /iat/],
    ['an iat as a string', () => proof(signer, { claims: { iat: String(NOW / 1000) } }), {}, /iat/],
    ['too old', () => proof(signer, { claims: { iat: NOW / 1000 - 61 } }), {}, /too old/],
    ['from the future', () => proof(signer, { claims: { iat: NOW / 1000 + 31 } }), {}, /future/],
    ['no ath with a token', () => proof(signer, { claims: { ath: undefined } }), { accessToken: TOKEN }, /ath/],
    ['the ath of another token', () => proof(signer, { claims: { ath: accessTokenHash(`${TOKEN}x`) } }), { accessToken: TOKEN }, /ath/]
  ]
  for (const [description, make, more, message] of cases) {
    const sent = await make()
    t.throws(() => verifyDpopProof(check(sent, more)), { name: 'DpopProofError', message }, description)
  }
  // Within the bounds, and with the query and fragment the comparison leaves out: it passes.
  for (const [description, claims, more] of [
    ['59 s old', { iat: NOW / 1000 - 59 }, {}],
    ['29 s ahead', { iat: NOW / 1000 + 29 }, {}],
    ['the request with a query', {}, { url: `${URL_}?page=2#top` }],
    ['the host in capitals and the default port', { htu: 'HTTPS://API.example.com:443/orders' }, {}],
    ['no ath at login (no token presented)', { ath: undefined }, {}]
  ] as const) {
    const sent = await proof(signer, { claims })
    t.doesNotThrow(() => verifyDpopProof(check(sent, more)), description)
  }
})

test('thumbprints and URLs as RFC 7638 and RFC 9449 §4.3 compare them', async (t) => {
  // RFC 7638 §3.1's example key and thumbprint.
  const rfcKey = {
    kty: 'RSA',
    n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
    e: 'AQAB',
    alg: 'RS256',
    kid: '2011-04-29'
  }
  t.equal(jwkThumbprint(rfcKey), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs')
  const secretKey = { kty: 'oct', k: 'c2VjcmV0' }
  t.equal(jwkThumbprint(secretKey), await calculateJwkThumbprint(secretKey), 'a symmetric key as jose computes it')
  t.equal(jwkThumbprint({ kty: 'oct' }), undefined, 'a symmetric key without k')
  t.equal(jwkThumbprint({ kty: 'unknown', k: 'c2VjcmV0' }), undefined, 'an unknown key type')
  t.equal(jwkThumbprint({ kty: 'EC', crv: 'P-256', x: 'x' }), undefined, 'a member missing')
  t.equal(htuOf('HTTPS://Auth.Example:443/a/b?c=d#e'), 'https://auth.example/a/b')
  t.equal(htuOf('http://auth.example:8080/'), 'http://auth.example:8080/')
  t.equal(htuOf('ftp://auth.example/'), undefined)
  t.equal(htuOf('/relative'), undefined)
})

test("the library's replay cache: a jti once until its proof expires; full of live proofs, it refuses new ones", async (t) => {
  const cache = new ProofReplayCache(2)
  t.ok(cache.use('a', 100, 0))
  t.ok(cache.use('b', 200, 0))
  t.notOk(cache.use('a', 100, 50), 'a replay')
  t.notOk(cache.use('c', 300, 50), 'full of live proofs: refused, failing closed')
  t.ok(cache.use('c', 300, 100), "once a's proof expired, its room is taken")
  t.notOk(cache.use('d', 400, 150), 'full again until b expires')
  t.notOk(cache.use('c', 300, 199), 'c is still a replay')
  t.ok(cache.use('a', 500, 200), 'b expired: a new proof with an old jti passes, its first proof long past')
})
