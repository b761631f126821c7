/**
 * DPoP-bound user tokens (RFC 9449) with oauth4webapi, a real client: login binds the session's tokens to the
 * client's key; /api/* take them only as `DPoP` with a fresh proof by that key, on every instance; refresh keeps
 * the binding; a stolen token, a proof by another key, a replayed or mismatched proof are refused.
 */
import { randomUUID } from 'node:crypto'
import * as oauth from 'oauth4webapi'
import { test } from 'tap'
import Fastify from 'fastify'
import { createVerifier } from '@jwt-auth-service/verifier'
import jwtAuth from '@jwt-auth-service/verifier/fastify'
import { accessTokenHash } from '../../../src/auth/dpop.js'
import { dpopKeys, proofFor, thumbprintOf } from '../../dpop-client.js'
import { basic, buildTestApp, claimsOf, createClient, form, listeningPair, REDIS_URL, STORE_MODES, type TestContext } from '../../helper.js'

const json = { 'content-type': 'application/json' }

/** A user on a pair of instances behind one public URL (ISSUER, A's): requests to B go to B, proofs name ISSUER. */
async function boundSession(t: TestContext, mode: (typeof STORE_MODES)[number]) {
  const pair = await listeningPair(t, mode)
  const { issuer, urlB } = pair
  const email = `dpop.${randomUUID()}@example.com`
  const password = 'correct horse battery'
  await fetch(`${issuer}/api/register`, { method: 'POST', headers: json, body: JSON.stringify({ name: 'Ada', email, password, password_confirmation: password }) })
  const keys = await dpopKeys()
  const dpop = oauth.DPoP({ client_id: 'spa' } as oauth.Client, keys as Parameters<typeof oauth.DPoP>[1])
  /** oauth4webapi's request to the public URL, delivered to `instance`; the proof it sent, for replays. */
  let lastProof = ''
  const call = async (token: string, method: string, path: string, instance: 'A' | 'B' = 'A'): Promise<Response> =>
    oauth.protectedResourceRequest(token, method, new URL(`${issuer}${path}`), new Headers(), undefined, {
      DPoP: dpop,
      // The test's instances listen on loopback over plain HTTP.
      [oauth.allowInsecureRequests]: true,
      [oauth.customFetch]: async (url: string, init: RequestInit) => {
        lastProof = new Headers(init.headers).get('dpop') ?? ''
        return fetch(instance === 'A' ? url : url.replace(issuer, urlB), init)
      }
    }).catch((error: unknown) => {
      // oauth4webapi throws on a 401 with a challenge; the test reads the answer.
      if (error instanceof oauth.WWWAuthenticateChallengeError) return error.response
      throw error
    })
  const login = async (proof?: string) =>
    fetch(`${issuer}/api/login`, { method: 'POST', headers: { ...json, ...(proof === undefined ? {} : { dpop: proof }) }, body: JSON.stringify({ email, password }) })
  return { ...pair, keys, dpop, call, login, lastProof: () => lastProof }
}

for (const mode of STORE_MODES) {
  test(`DPoP: a bound session from login to logout, on two instances (${mode})`, async (t) => {
    const { issuer, urlB, env, keys, dpop, call, login, lastProof } = await boundSession(t, mode)
    const loggedIn = await login(await proofFor(keys, 'POST', `${issuer}/api/login`))
    t.equal(loggedIn.status, 200)
    const body = (await loggedIn.json()) as { access_token: string; token_type: string }
    t.equal(body.token_type, 'DPoP', 'RFC 9449 §5: the token type says it is bound')
    const jkt = await thumbprintOf(keys)
    t.same(claimsOf(body.access_token).cnf, { jkt }, 'cnf.jkt is the thumbprint of the proof\'s key')
    t.equal(await dpop.calculateThumbprint(), jkt)
    const token = body.access_token

    for (const instance of ['A', 'B'] as const) {
      const user = await call(token, 'GET', '/api/user', instance)
      t.equal(user.status, 200, `/api/user on ${instance} with oauth4webapi's proof`)
    }
    // The proof B just admitted, sent again: to A, to B.
    const replayed = lastProof()
    for (const url of [issuer, urlB]) {
      const again = await fetch(`${url}/api/user`, { headers: { authorization: `DPoP ${token}`, dpop: replayed } })
      t.equal(again.status, 401, 'a replayed proof is refused on every instance')
      t.match(again.headers.get('www-authenticate'), /^DPoP error="invalid_dpop_proof"/)
    }

    // The token alone is worth nothing: as Bearer, or with a proof by another key, or a proof for something else.
    const thief = await dpopKeys()
    const refusals: [string, Record<string, string>][] = [
      ['as Bearer', { authorization: `Bearer ${token}` }],
      ['as DPoP without a proof', { authorization: `DPoP ${token}` }],
      ['with a proof by another key', { authorization: `DPoP ${token}`, dpop: await proofFor(thief, 'GET', `${issuer}/api/user`, { ath: accessTokenHash(token) }) }],
      ['with a proof for POST', { authorization: `DPoP ${token}`, dpop: await proofFor(keys, 'POST', `${issuer}/api/user`, { ath: accessTokenHash(token) }) }],
      ['with a proof for another URL', { authorization: `DPoP ${token}`, dpop: await proofFor(keys, 'GET', `${issuer}/api/sessions`, { ath: accessTokenHash(token) }) }],
      ['with a proof for another host', { authorization: `DPoP ${token}`, dpop: await proofFor(keys, 'GET', 'https://evil.example/api/user', { ath: accessTokenHash(token) }) }],
      ['with a proof for another token', { authorization: `DPoP ${token}`, dpop: await proofFor(keys, 'GET', `${issuer}/api/user`, { ath: accessTokenHash(`${token}x`) }) }],
      ['with a proof without ath', { authorization: `DPoP ${token}`, dpop: await proofFor(keys, 'GET', `${issuer}/api/user`) }],
      ['with a stale proof', { authorization: `DPoP ${token}`, dpop: await proofFor(keys, 'GET', `${issuer}/api/user`, { ath: accessTokenHash(token), iat: Math.floor(Date.now() / 1000) - 120 }) }]
    ]
    for (const [description, headers] of refusals) {
      const response = await fetch(`${urlB}/api/user`, { headers })
      t.equal(response.status, 401, description)
      const answer = (await response.json()) as { code: string }
      t.equal(answer.code, 'DPOP_PROOF_INVALID', `${description}: DPOP_PROOF_INVALID`)
      t.match(response.headers.get('www-authenticate'), /^DPoP error="invalid_(dpop_proof|token)"/, `${description}: a DPoP challenge`)
    }
    t.equal((await fetch(`${issuer}/auth/verify`, { headers: { authorization: `Bearer ${token}` } })).status, 401, '/auth/verify does not take it as a bearer token')
    // /auth/verify checks the proof against the request a trusted gateway forwards; these instances trust no peer.
    const forwarded = { authorization: `DPoP ${token}`, 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'api.example', 'x-forwarded-uri': '/profile' }
    const untrusted = await fetch(`${issuer}/auth/verify`, { headers: { ...forwarded, dpop: await proofFor(keys, 'GET', 'http://api.example/profile', { ath: accessTokenHash(token) }) } })
    t.equal(untrusted.status, 401, 'forwarding headers from a peer TRUST_PROXY does not trust are not taken')
    t.match(untrusted.headers.get('www-authenticate'), /^DPoP error="invalid_dpop_proof"/)

    if (mode === 'redis-postgres') {
      // The verifier library, and its Fastify plugin behind which oauth4webapi calls an API of its own.
      const library = createVerifier({ issuer, audience: issuer, accept: ['user'], feed: { redisUrl: REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX } })
      t.teardown(() => library.close())
      await library.ready()
      const apiUrl = 'https://orders.example/orders?page=1'
      await t.rejects(library.verify(token), { code: 'DPOP_PROOF_INVALID', message: /bound to a key/ }, 'the library refuses the bound token as a bearer token')
      const libraryProof = await proofFor(keys, 'GET', apiUrl, { ath: accessTokenHash(token) })
      t.match(await library.verify(token, { dpop: { proof: libraryProof, method: 'GET', url: apiUrl } }), { kind: 'user', cnf: { jkt } }, 'and takes it with a proof by its key')
      await t.rejects(library.verify(token, { dpop: { proof: libraryProof, method: 'GET', url: apiUrl } }), { code: 'DPOP_PROOF_INVALID', message: /used before/ }, 'a replay is refused')
      await t.rejects(library.verify(token, { dpop: { proof: await proofFor(thief, 'GET', apiUrl, { ath: accessTokenHash(token) }), method: 'GET', url: apiUrl } }), { code: 'DPOP_PROOF_INVALID', message: /another key/ })
      await t.rejects(library.verify(token, { dpop: { proof: await proofFor(keys, 'POST', apiUrl, { ath: accessTokenHash(token) }), method: 'GET', url: apiUrl } }), { code: 'DPOP_PROOF_INVALID', message: /htm/ })
      const plain = (await (await login()).json()) as { access_token: string }
      await t.rejects(library.verify(plain.access_token, { dpop: { proof: libraryProof, method: 'GET', url: apiUrl } }), { code: 'DPOP_PROOF_INVALID', message: /not bound/ }, 'an unbound token as DPoP is refused')

      const api = Fastify()
      t.teardown(() => api.close())
      await api.register(jwtAuth, { issuer, audience: issuer, accept: ['user'], feed: { redisUrl: REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX } })
      api.get('/orders', { preHandler: api.requireToken() }, async (request) => ({ sub: request.tokenClaims!.sub }))
      await api.listen({ port: 0, host: '127.0.0.1' })
      const apiBase = `http://127.0.0.1:${(api.server.address() as { port: number }).port}`
      const viaPlugin = await oauth.protectedResourceRequest(token, 'GET', new URL(`${apiBase}/orders`), new Headers(), undefined, { DPoP: dpop, [oauth.allowInsecureRequests]: true })
      t.equal(viaPlugin.status, 200, "the plugin admits oauth4webapi's request with a bound token")
      const asBearer = await fetch(`${apiBase}/orders`, { headers: { authorization: `Bearer ${token}` } })
      t.equal(asBearer.status, 401, 'and refuses the same token as Bearer')
      t.match(asBearer.headers.get('www-authenticate'), /^DPoP error="invalid_dpop_proof"/)
    }
    // Refresh: as Bearer it is refused and nothing is written; with a proof, the child is bound to the same key.
    const refreshUrl = `${issuer}/api/refresh`
    const jti = randomUUID()
    const spentOnce = await fetch(`${urlB}/api/user`, { headers: { authorization: `DPoP ${token}`, dpop: await proofFor(keys, 'GET', `${issuer}/api/user`, { ath: accessTokenHash(token), jti }) } })
    t.equal(spentOnce.status, 200, 'a proof whose jti the refresh below uses again')
    const spent = await proofFor(keys, 'POST', refreshUrl, { ath: accessTokenHash(token), jti })
    const refreshRefusals: [string, Record<string, string>][] = [
      ['as Bearer', { authorization: `Bearer ${token}` }],
      ['with a proof by another key', { authorization: `DPoP ${token}`, dpop: await proofFor(await dpopKeys(), 'POST', refreshUrl, { ath: accessTokenHash(token) }) }],
      ['with a jti spent already', { authorization: `DPoP ${token}`, dpop: spent }]
    ]
    for (const [description, headers] of refreshRefusals) {
      t.equal((await fetch(`${urlB}/api/refresh`, { method: 'POST', headers })).status, 401, `a refresh ${description} is refused`)
    }
    t.equal((await call(token, 'GET', '/api/user')).status, 200, 'the refused refreshes left the token as it was')
    const refreshed = await call(token, 'POST', '/api/refresh', 'B')
    t.equal(refreshed.status, 200)
    const child = (await refreshed.json()) as { access_token: string; token_type: string }
    t.equal(child.token_type, 'DPoP')
    t.same(claimsOf(child.access_token).cnf, { jkt }, 'the child is bound to the same key')
    t.equal((await call(token, 'GET', '/api/user', 'B')).status, 401, 'the parent is refused at once')
    t.equal((await call(child.access_token, 'GET', '/api/sessions', 'A')).status, 200)

    t.equal((await fetch(`${urlB}/api/logout`, { method: 'POST', headers: { authorization: `Bearer ${child.access_token}` } })).status, 401, 'a logout with the token as Bearer is refused, and ends nothing')
    const loggedOut = await call(child.access_token, 'POST', '/api/logout', 'A')
    t.equal(loggedOut.status, 200)
    t.equal((await call(child.access_token, 'GET', '/api/user', 'B')).status, 401, 'logged out: refused on B at once')
  })
}

test('DPoP at login: a bad proof is refused before the password is checked; DPOP_REQUIRED; an unbound token as DPoP', async (t) => {
  const { issuer, keys, call, login } = await boundSession(t, 'embedded')
  const url = `${issuer}/api/login`
  const bad: [string, () => Promise<string>][] = [
    ['a proof for GET', () => proofFor(keys, 'GET', url)],
    ['a proof for another URL', () => proofFor(keys, 'POST', `${issuer}/api/refresh`)],
    ['a stale proof', () => proofFor(keys, 'POST', url, { iat: Math.floor(Date.now() / 1000) - 600 })],
    ['not a JWS', async () => 'not-a-proof'],
    ['two proofs', async () => `${await proofFor(keys, 'POST', url)}, ${await proofFor(keys, 'POST', url)}`]
  ]
  for (const [description, make] of bad) {
    const response = await login(await make())
    t.equal(response.status, 401, description)
    t.equal(((await response.json()) as { code: string }).code, 'DPOP_PROOF_INVALID', description)
  }
  // Before the password: with a wrong one too, the answer is the proof's refusal, not INVALID_CREDENTIALS.
  const wrongPassword = await fetch(url, { method: 'POST', headers: { ...json, dpop: await proofFor(keys, 'GET', url) }, body: JSON.stringify({ email: 'nobody@example.com', password: 'wrong password' }) })
  t.equal(((await wrongPassword.json()) as { code: string }).code, 'DPOP_PROOF_INVALID', 'the proof is checked before the password')
  const proof = await proofFor(keys, 'POST', url)
  t.equal((await login(proof)).status, 200)
  t.equal((await login(proof)).status, 401, 'a login proof is single-use too')

  const plain = (await (await login()).json()) as { access_token: string; token_type: string }
  t.equal(plain.token_type, 'bearer', 'without a proof, nothing changes: a bearer token, as in the seed')
  t.equal(claimsOf(plain.access_token).cnf, undefined)
  const asDpop = await call(plain.access_token, 'GET', '/api/user')
  t.equal(asDpop.status, 401, 'an unbound token sent as DPoP is refused')
  t.match(asDpop.headers.get('www-authenticate'), /DPoP error="invalid_token"/)

  const required = await buildTestApp(t, 'embedded', { DPOP_REQUIRED: 'true' })
  const password = 'correct horse battery'
  await required.inject({ method: 'POST', url: '/api/register', payload: { name: 'Bo', email: 'bo@example.com', password, password_confirmation: password } })
  const refused = await required.inject({ method: 'POST', url: '/api/login', payload: { email: 'bo@example.com', password } })
  t.equal(refused.statusCode, 401, 'DPOP_REQUIRED: no login without a proof')
  t.equal(refused.json().code, 'DPOP_PROOF_INVALID')
  const accepted = await required.inject({ method: 'POST', url: '/api/login', headers: { dpop: await proofFor(keys, 'POST', 'http://auth.test/api/login') }, payload: { email: 'bo@example.com', password } })
  t.equal(accepted.json().token_type, 'DPoP')

  // Introspection reports the binding to resource servers (RFC 9449 §6.2).
  const secret = await createClient(required, 'gateway', [], { privileges: ['introspect'] })
  const introspected = await required.inject(form('/oauth/introspect', { token: accepted.json().access_token }, basic('gateway', secret)))
  t.match(introspected.json(), { active: true, cnf: { jkt: await thumbprintOf(keys) } })
})
