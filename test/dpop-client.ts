/** DPoP proofs as a client makes them (RFC 9449 §4.2), for the tests of the service, its gateways and its library. */
import { randomUUID } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose'
import type { FastifyInstance } from 'fastify'
import { accessTokenHash } from '../src/auth/dpop.js'
import { registerAndLogin, type TestContext } from './helper.js'

export type KeyPair = { privateKey: CryptoKey; publicKey: CryptoKey }

export const dpopKeys = async (): Promise<KeyPair> => (await generateKeyPair('ES256')) as KeyPair

export const thumbprintOf = async (keys: KeyPair): Promise<string> => calculateJwkThumbprint(await exportJWK(keys.publicKey))

/** A proof for `htm` and `htu`, with `claims` added or replaced (an `ath`, an old `iat`). */
export async function proofFor(keys: KeyPair, htm: string, htu: string, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ jti: randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000), ...claims })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: await exportJWK(keys.publicKey) })
    .sign(keys.privateKey)
}

/**
 * Through a gateway in front of `app` (nginx, Caddy): a token bound at login passes with a proof for the URL the
 * client called at the gateway, and the upstream learns the key's thumbprint; as Bearer, with a replayed proof or a
 * proof for another URL, it is stopped there. `app` requires server nonces (DPOP_NONCE): the gateway hands the
 * nonce of a refusal to the client, and with `nonceOnAnswers` that of an admitted request too.
 */
export async function boundTokenThroughGateway(t: TestContext, app: FastifyInstance, gateway: string, { nonceOnAnswers }: { nonceOnAnswers: boolean }): Promise<void> {
  t.ok(app.config.DPOP_NONCE, 'the gateway tests run the service with DPOP_NONCE')
  const keys = await dpopKeys()
  const { email, password, token: unbound } = await registerAndLogin(app)
  const forged = await fetch(`${gateway}/profile`, { headers: { authorization: `Bearer ${unbound}`, 'x-auth-key-thumbprint': 'forged' } })
  t.notOk(((await forged.json()) as { keyThumbprint?: string }).keyThumbprint, 'a caller cannot set X-Auth-Key-Thumbprint itself')
  const login = async (nonce?: string) =>
    app.inject({ method: 'POST', url: '/api/login', headers: { dpop: await proofFor(keys, 'POST', `${app.config.ISSUER}/api/login`, nonce === undefined ? {} : { nonce }) }, payload: { email, password } })
  const loggedIn = await login(String((await login()).headers['dpop-nonce']))
  const token = loggedIn.json().access_token as string
  t.equal(loggedIn.json().token_type, 'DPoP', 'a token bound at login')
  const url = `${gateway}/profile`

  // Without a nonce, the refusal reaches the client with the nonce to use (RFC 9449 §9).
  const withoutNonce = await fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: await proofFor(keys, 'GET', url, { ath: accessTokenHash(token) }) } })
  t.equal(withoutNonce.status, 401, 'a proof without the nonce is stopped at the gateway')
  t.match(withoutNonce.headers.get('www-authenticate'), /^DPoP error="use_dpop_nonce"/, 'with the use_dpop_nonce challenge')
  const nonce = withoutNonce.headers.get('dpop-nonce')
  t.match(nonce, /^[\w-]{30}$/, 'and the nonce, in DPoP-Nonce')
  const proof = await proofFor(keys, 'GET', url, { ath: accessTokenHash(token), nonce })
  const passed = await fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: proof } })
  t.equal(passed.status, 200, 'a bound token with a proof for the URL called at the gateway, and the nonce, passes')
  t.match(await passed.json(), { keyThumbprint: await thumbprintOf(keys) }, 'the upstream gets X-Auth-Key-Thumbprint')
  if (nonceOnAnswers) t.equal(passed.headers.get('dpop-nonce'), nonce, 'the admitted request\'s answer carries the nonce to use next')
  const refusals: [string, Record<string, string>][] = [
    ['the same proof again', { authorization: `DPoP ${token}`, dpop: proof }],
    ['as Bearer', { authorization: `Bearer ${token}` }],
    ['a proof for another URL', { authorization: `DPoP ${token}`, dpop: await proofFor(keys, 'GET', `${gateway}/other`, { ath: accessTokenHash(token), nonce }) }],
    ['a proof for POST', { authorization: `DPoP ${token}`, dpop: await proofFor(keys, 'POST', url, { ath: accessTokenHash(token), nonce }) }]
  ]
  for (const [description, headers] of refusals) {
    const refused = await fetch(url, { headers })
    t.equal(refused.status, 401, `${description}: stopped at the gateway`)
    t.match(refused.headers.get('www-authenticate'), /^DPoP error=/, `${description}: the DPoP challenge reaches the caller`)
  }
}
