/**
 * DPoP at /oauth/token (RFC 9449 §5) with oauth4webapi: a client-credentials or exchanged token bound to the client's
 * key, refused as Bearer at the gate and by the library, admitted with a proof; the feed takes no bound token.
 */
import * as oauth from 'oauth4webapi'
import { test } from 'tap'
import { createVerifier } from '@jwt-auth-service/verifier'
import { accessTokenHash } from '../../../src/auth/dpop.js'
import { dpopKeys, proofFor, thumbprintOf } from '../../dpop-client.js'
import { basic, CLIENT_AUDIENCE, CLIENT_AUDIENCE_QUERY, claimsOf, createClient, listeningPair, REDIS_URL, registerAndLogin, STORE_MODES } from '../../helper.js'

const PAYMENTS = 'https://payments.internal'

for (const mode of STORE_MODES) {
  test(`DPoP-bound client tokens (${mode})`, async (t) => {
    // The instances trust their loopback peer, which stands for the gateway at /auth/verify.
    const { a, issuer, urlB, env } = await listeningPair(t, mode, { TRUST_PROXY: 'loopback' })
    const secret = await createClient(a, 'orders', ['orders:read'], { privileges: ['introspect', 'exchange'], exchange_audiences: [PAYMENTS] })
    const keys = await dpopKeys()
    const jkt = await thumbprintOf(keys)
    const as = { issuer, token_endpoint: `${urlB}/oauth/token` } as oauth.AuthorizationServer
    const client: oauth.Client = { client_id: 'orders' }
    const dpop = oauth.DPoP(client, keys as Parameters<typeof oauth.DPoP>[1])
    // The proof names the public URL (ISSUER); the request goes to B, behind the same name.
    const response = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(secret), new URLSearchParams({ scope: 'orders:read' }), {
      DPoP: dpop,
      [oauth.allowInsecureRequests]: true,
      [oauth.customFetch]: (url: string, init: RequestInit) => fetch(url, init)
    }).catch((error: unknown) => (error instanceof oauth.WWWAuthenticateChallengeError ? error.response : Promise.reject(error)))
    t.equal(response.status, 400, 'a proof for B\'s own URL is not one for ISSUER/oauth/token')
    t.match(await response.json(), { error: 'invalid_dpop_proof' }, "RFC 9449 §5's error at the token endpoint")

    const asPublic = { issuer, token_endpoint: `${issuer}/oauth/token` } as oauth.AuthorizationServer
    const granted = await oauth.processClientCredentialsResponse(
      asPublic,
      client,
      await oauth.clientCredentialsGrantRequest(asPublic, client, oauth.ClientSecretBasic(secret), new URLSearchParams({ scope: 'orders:read' }), { DPoP: dpop, [oauth.allowInsecureRequests]: true })
    )
    t.equal(granted.token_type, 'dpop', "oauth4webapi reads the token as DPoP-bound")
    const token = granted.access_token
    t.same(claimsOf(token).cnf, { jkt }, 'cnf.jkt is the client key\'s thumbprint')

    // The gate: as Bearer it is refused; with a proof for the request the gateway forwards, it passes.
    const verifyUrl = `${urlB}/auth/verify${CLIENT_AUDIENCE_QUERY}`
    const asBearer = await fetch(verifyUrl, { headers: { authorization: `Bearer ${token}` } })
    t.equal(asBearer.status, 401, 'a bound client token as Bearer is refused at the gate')
    const forwarded = { 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example', 'x-forwarded-uri': '/orders/7?x=1' }
    const proof = await proofFor(keys, 'GET', 'https://api.example/orders/7', { ath: accessTokenHash(token) })
    const passed = await fetch(verifyUrl, { headers: { authorization: `DPoP ${token}`, dpop: proof, ...forwarded } })
    t.equal(passed.status, 200, 'with a proof for the forwarded request it passes')
    t.equal(passed.headers.get('x-auth-client'), 'orders')
    t.equal(passed.headers.get('x-auth-key-thumbprint'), jkt)
    t.equal((await fetch(verifyUrl, { headers: { authorization: `DPoP ${token}`, dpop: proof, ...forwarded } })).status, 401, 'the same proof again is refused')

    const introspected = await a.inject({ method: 'POST', url: '/oauth/introspect', headers: { ...basic('orders', secret), 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${token}` })
    t.match(introspected.json(), { active: true, client_id: 'orders', cnf: { jkt } })

    // An exchange with a proof: the delegated token is bound to the exchanging client's key.
    const ada = await registerAndLogin(a)
    const exchanged = await fetch(`${urlB}/oauth/token`, {
      method: 'POST',
      headers: { ...basic('orders', secret), 'content-type': 'application/x-www-form-urlencoded', dpop: await proofFor(keys, 'POST', `${issuer}/oauth/token`) },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: ada.token, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', resource: PAYMENTS })
    })
    const delegated = (await exchanged.json()) as { access_token: string; token_type: string }
    t.equal(delegated.token_type, 'DPoP')
    t.same(claimsOf(delegated.access_token).cnf, { jkt }, 'the delegated token is bound to the exchanging client')
    t.equal((await fetch(`${urlB}/auth/verify?audience=${encodeURIComponent(PAYMENTS)}`, { headers: { authorization: `Bearer ${delegated.access_token}` } })).status, 401, 'and refused as Bearer')

    // A bound subject token is traded only for a bound token: without the exchanging client's proof, it is refused.
    const adaKeys = await dpopKeys()
    const adaBound = (await a.inject({ method: 'POST', url: '/api/login', headers: { dpop: await proofFor(adaKeys, 'POST', `${issuer}/api/login`) }, payload: { email: ada.email, password: ada.password } })).json() as { access_token: string }
    const exchange = async (subject: string, proof?: string) =>
      fetch(`${urlB}/oauth/token`, {
        method: 'POST',
        headers: { ...basic('orders', secret), 'content-type': 'application/x-www-form-urlencoded', ...(proof === undefined ? {} : { dpop: proof }) },
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', resource: PAYMENTS })
      })
    for (const [description, subject] of [["Ada's bound token", adaBound.access_token], ["the client's own bound token", token]] as const) {
      const asBearer = await exchange(subject)
      t.equal(asBearer.status, 400, `${description} for a bearer token: refused`)
      t.match(await asBearer.json(), { error: 'invalid_request', error_description: /bound to a key/ })
    }
    const rebound = (await (await exchange(adaBound.access_token, await proofFor(keys, 'POST', `${issuer}/oauth/token`))).json()) as { access_token: string; token_type: string }
    t.equal(rebound.token_type, 'DPoP', "with the exchanging client's proof it passes")
    t.same(claimsOf(rebound.access_token).cnf, { jkt }, "bound to the exchanging client's key, not Ada's")

    if (mode === 'redis-postgres') {
      const library = createVerifier({ issuer, audience: CLIENT_AUDIENCE, accept: ['client'], feed: { redisUrl: REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX } })
      t.teardown(() => library.close())
      await library.ready()
      await t.rejects(library.verify(token), { code: 'DPOP_PROOF_INVALID' }, 'the library refuses it without a proof')
      const url = 'https://orders.example/orders'
      t.match(await library.verify(token, { dpop: { proof: await proofFor(keys, 'GET', url, { ath: accessTokenHash(token) }), method: 'GET', url } }), { kind: 'client', cnf: { jkt } })

      // The feed checks no proof: a bound token for it is refused, whoever holds it.
      const feedUrl = `${issuer}/oauth/revocations`
      const readerSecret = await createClient(a, 'reader', [], { audiences: [feedUrl], privileges: ['revocations'] })
      const readerToken = await oauth.processClientCredentialsResponse(
        asPublic,
        { client_id: 'reader' },
        await oauth.clientCredentialsGrantRequest(asPublic, { client_id: 'reader' }, oauth.ClientSecretBasic(readerSecret), new URLSearchParams({ resource: feedUrl }), { DPoP: dpop, [oauth.allowInsecureRequests]: true })
      )
      const feed = await fetch(feedUrl, { headers: { authorization: `Bearer ${readerToken.access_token}` } })
      t.equal(feed.status, 401, 'a bound token is refused at the feed')
      await feed.body?.cancel()
    }
  })
}
