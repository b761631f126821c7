/**
 * DPOP_NONCE=true (RFC 9449 §8, §9) with oauth4webapi, which learns a nonce from `DPoP-Nonce` and retries after
 * `use_dpop_nonce`: at login, /api/*, /oauth/token and /auth/verify, on two instances that agree without a store.
 */
import { randomUUID } from 'node:crypto'
import * as oauth from 'oauth4webapi'
import { test } from 'tap'
import { settableClock } from '../../../src/auth/clock.js'
import { accessTokenHash } from '../../../src/auth/dpop.js'
import { dpopKeys, proofFor } from '../../dpop-client.js'
import type { Response as LightMyRequestResponse } from 'light-my-request'
import { buildApp, buildTestApp, createClient, listeningPair, registerAndLogin, storeEnv, STORE_MODES, type TestContext } from '../../helper.js'

const json = { 'content-type': 'application/json' }
const NONCE_CHALLENGE = /^DPoP error="use_dpop_nonce"/

/** 401 DPOP_NONCE_REQUIRED, with the DPoP challenge and a nonce to use. */
function refusedForNonce(t: TestContext, response: LightMyRequestResponse): void {
  t.equal(response.statusCode, 401)
  t.match(response.json(), { code: 'DPOP_NONCE_REQUIRED' })
  t.match(response.headers['www-authenticate'], NONCE_CHALLENGE)
  t.match(response.headers['dpop-nonce'], /^[\w-]{30}$/)
}

for (const mode of STORE_MODES) {
  test(`DPOP_NONCE: a proof needs a recent nonce of the service's, which oauth4webapi learns and both instances take (${mode})`, async (t) => {
    const { a, issuer, urlB } = await listeningPair(t, mode, { DPOP_NONCE: 'true', TRUST_PROXY: 'loopback' })
    const keys = await dpopKeys()
    const { email, password } = await registerAndLogin(a)
    const login = (proof: string) => fetch(`${issuer}/api/login`, { method: 'POST', headers: { ...json, dpop: proof }, body: JSON.stringify({ email, password }) })

    // Login: a proof without a nonce is refused before the password is checked, with the nonce to use.
    const refused = await login(await proofFor(keys, 'POST', `${issuer}/api/login`))
    t.equal(refused.status, 401)
    t.match(await refused.json(), { code: 'DPOP_NONCE_REQUIRED' })
    t.match(refused.headers.get('www-authenticate'), NONCE_CHALLENGE)
    const nonce = refused.headers.get('dpop-nonce')
    t.ok(nonce, 'RFC 9449 §8: the refusal gives the nonce in DPoP-Nonce')
    const loggedIn = await login(await proofFor(keys, 'POST', `${issuer}/api/login`, { nonce }))
    t.equal(loggedIn.status, 200, 'the same login with the nonce')
    t.equal(loggedIn.headers.get('dpop-nonce'), nonce, 'an answer to a proof gives the nonce to use next')
    const token = ((await loggedIn.json()) as { access_token: string }).access_token

    // /api/user with oauth4webapi: the first call has no nonce for this origin, is refused, and the retry passes.
    const dpop = oauth.DPoP({ client_id: 'spa' } as oauth.Client, keys as Parameters<typeof oauth.DPoP>[1])
    const userAt = (base: string) =>
      oauth.protectedResourceRequest(token, 'GET', new URL(`${issuer}/api/user`), new Headers(), undefined, {
        DPoP: dpop,
        [oauth.allowInsecureRequests]: true,
        // The proof names the public URL (ISSUER); the request goes to `base`.
        [oauth.customFetch]: (url: string, init: RequestInit) => fetch(url.replace(issuer, base), init)
      })
    const refusedCall = await userAt(issuer).then(() => undefined, (error: unknown) => error)
    t.ok(oauth.isDPoPNonceError(refusedCall), 'oauth4webapi reads use_dpop_nonce at /api/user (RFC 9449 §9)')
    t.equal((await userAt(issuer)).status, 200, 'its retry, with the nonce it learnt, passes')
    t.equal((await userAt(urlB)).status, 200, 'B takes the nonce A gave: the instances agree without a store')

    // A nonce of another deployment (another signing key) is refused like none.
    const elsewhere = await buildTestApp(t, 'embedded', { DPOP_NONCE: 'true' })
    const otherNonce = (await elsewhere.inject({ method: 'POST', url: '/api/login', headers: { dpop: await proofFor(keys, 'POST', `${elsewhere.config.ISSUER}/api/login`) }, payload: { email, password } })).headers['dpop-nonce']
    t.ok(otherNonce)
    const foreign = await fetch(`${urlB}/api/user`, { headers: { authorization: `DPoP ${token}`, dpop: await proofFor(keys, 'GET', `${issuer}/api/user`, { ath: accessTokenHash(token), nonce: otherNonce }) } })
    t.equal(foreign.status, 401)
    t.match(foreign.headers.get('www-authenticate'), NONCE_CHALLENGE)

    // The token endpoint: 400 use_dpop_nonce (RFC 9449 §8), which oauth4webapi retries with the nonce.
    const secret = await createClient(a, 'orders', ['orders:read'])
    const as = { issuer, token_endpoint: `${issuer}/oauth/token` } as oauth.AuthorizationServer
    const client: oauth.Client = { client_id: 'orders' }
    const clientDpop = oauth.DPoP(client, (await dpopKeys()) as Parameters<typeof oauth.DPoP>[1])
    const grant = async () =>
      oauth.processClientCredentialsResponse(as, client, await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(secret), new URLSearchParams({ scope: 'orders:read' }), { DPoP: clientDpop, [oauth.allowInsecureRequests]: true }))
    const refusedGrant = await grant().then(() => undefined, (error: unknown) => error)
    t.ok(oauth.isDPoPNonceError(refusedGrant), 'oauth4webapi reads use_dpop_nonce at the token endpoint')
    t.match(refusedGrant, { status: 400, error: 'use_dpop_nonce' }, 'RFC 9449 §8: 400 use_dpop_nonce')
    const granted = await grant()
    t.equal(granted.token_type, 'dpop', 'the retry gets a bound token')

    // The gate: the proof of the forwarded request needs the nonce too, and the refusal carries it.
    const forwarded = { 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example', 'x-forwarded-uri': '/orders/7' }
    const gateRefused = await fetch(`${urlB}/auth/verify`, { headers: { authorization: `DPoP ${token}`, dpop: await proofFor(keys, 'GET', 'https://api.example/orders/7', { ath: accessTokenHash(token) }), ...forwarded } })
    t.equal(gateRefused.status, 401)
    t.match(gateRefused.headers.get('www-authenticate'), NONCE_CHALLENGE)
    const gateNonce = gateRefused.headers.get('dpop-nonce')
    const gatePassed = await fetch(`${urlB}/auth/verify`, { headers: { authorization: `DPoP ${token}`, dpop: await proofFor(keys, 'GET', 'https://api.example/orders/7', { ath: accessTokenHash(token), nonce: gateNonce }), ...forwarded } })
    t.equal(gatePassed.status, 200, 'the gate admits the proof with the nonce')
    t.equal(gatePassed.headers.get('dpop-nonce'), gateNonce, 'and gives the nonce to pass on')
  })
}

test('DPOP_NONCE: a nonce passes for one to two proof windows, by the clock; none is sent when it is off', async (t) => {
  const clock = settableClock()
  const app = await buildApp(t, await storeEnv(t, 'embedded', { DPOP_NONCE: 'true', DPOP_PROOF_MAX_AGE: '60' }), clock)
  const keys = await dpopKeys()
  const { email, password } = await registerAndLogin(app)
  const url = `${app.config.ISSUER}/api/login`
  const loginWith = async (nonce?: unknown) => {
    const claims = { iat: Math.floor(clock.now() / 1000), jti: randomUUID(), ...(nonce === undefined ? {} : { nonce }) }
    return app.inject({ method: 'POST', url: '/api/login', headers: { dpop: await proofFor(keys, 'POST', url, claims) }, payload: { email, password } })
  }
  const nonce = (await loginWith()).headers['dpop-nonce']
  clock.advance(60_000)
  t.equal((await loginWith(nonce)).statusCode, 200, 'one window on, the nonce passes')
  clock.advance(60_000)
  const stale = await loginWith(nonce)
  refusedForNonce(t, stale)
  t.not(stale.headers['dpop-nonce'], nonce, 'two windows on it is refused, with a new one')
  for (const [description, value] of [['a number', 7], ['a forged one', 'A'.repeat(30)], ['an empty one', '']] as const) {
    await t.test(description, async (t) => refusedForNonce(t, await loginWith(value)))
  }
  t.equal((await loginWith(stale.headers['dpop-nonce'])).statusCode, 200, 'the new one passes')

  const off = await buildTestApp(t, 'embedded')
  const unrequired = await off.inject({ method: 'POST', url: '/api/login', headers: { dpop: await proofFor(keys, 'POST', `${off.config.ISSUER}/api/login`) }, payload: { email: 'nobody@example.com', password } })
  t.equal(unrequired.headers['dpop-nonce'], undefined, 'without DPOP_NONCE no nonce is sent')
})
