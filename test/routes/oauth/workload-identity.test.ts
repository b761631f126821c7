/**
 * Workload identity: a Kubernetes projected service-account token or a SPIFFE JWT-SVID, from an issuer on
 * loopback (OIDC discovery and a JWKS), is a federated client's credential, sent as a jwt-bearer client
 * assertion. Both store configurations; the service's clock is the test's, so the key cache's cooldown can
 * be waited out.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { test } from 'tap'
import { CLIENT_ASSERTION_TYPE } from '../../../src/auth/client-assertions.js'
import { settableClock } from '../../../src/auth/clock.js'
import { assertOAuthError, bearer, buildApp, CLIENT_AUDIENCE, CLIENT_VERIFY_URL, form, freePort, STORE_MODES, storeEnv } from '../../helper.js'
import { startWorkloadIssuer } from '../../workload-issuer.js'

const ISSUER = 'http://auth.test'

const grant = (app: FastifyInstance, assertion: string, fields: Record<string, string> = {}) =>
  app.inject(form('/oauth/token', { grant_type: 'client_credentials', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion, ...fields }))

for (const mode of STORE_MODES) {
  test(`Kubernetes service-account tokens and SPIFFE JWT-SVIDs get access tokens for their clients, and nothing else does (${mode})`, async (t) => {
    const clock = settableClock()
    // Many refusals from one address: the limit on them is tested with private_key_jwt.
    const env = await storeEnv(t, mode, { RATE_LIMIT_CLIENT_AUTH_FAILURES: '1000' })
    const a = await buildApp(t, env, clock)
    const b = await buildApp(t, env, clock)
    const cluster = await startWorkloadIssuer(t, 'kubernetes')
    const spire = await startWorkloadIssuer(t, 'spiffe')
    const registration = { scopes: ['payments:write'], audiences: [CLIENT_AUDIENCE], privileges: [] }
    // Keys by the cluster's discovery document; the SPIFFE bundle's by its URI.
    await a.auth.clients.create('payments-api', {
      ...registration,
      credential: { auth_method: 'federated', federated_issuer: cluster.issuer, federated_subject: 'system:serviceaccount:payments:payments-api' }
    })
    await a.auth.clients.create('ledger', {
      ...registration,
      credential: { auth_method: 'federated', federated_issuer: spire.issuer, federated_subject: 'spiffe://example.org/ns/ledger/sa/ledger', jwks_uri: spire.jwksUri }
    })

    const projected = await cluster.serviceAccountToken({ namespace: 'payments', name: 'payments-api', audience: ISSUER, now: clock.now() })
    for (const [name, app] of [['A', a], ['B', b]] as const) {
      const granted = await grant(app, projected)
      t.equal(granted.statusCode, 200, `the projected token gets a token on ${name}, no client_id needed`)
      t.match(granted.json(), { token_type: 'Bearer', scope: 'payments:write' })
      t.equal((await app.inject({ url: CLIENT_VERIFY_URL, headers: bearer(granted.json().access_token) })).headers['x-auth-client'], 'payments-api', 'the token is the client\'s')
    }
    t.equal((await grant(a, projected, { client_id: 'payments-api' })).statusCode, 200, 'with client_id too; the same token again, as the kubelet presents it until it rotates it')

    const svid = await spire.svid({ spiffeId: 'spiffe://example.org/ns/ledger/sa/ledger', audience: [ISSUER, 'https://other.example'], now: clock.now() })
    const fromSvid = await grant(b, svid)
    t.equal(fromSvid.statusCode, 200, 'a JWT-SVID gets a token for its client')
    t.equal((await b.inject({ url: CLIENT_VERIFY_URL, headers: bearer(fromSvid.json().access_token) })).headers['x-auth-client'], 'ledger')

    const now = clock.now()
    const refusals: [string, () => Promise<string>, Record<string, string>, RegExp][] = [
      ['another service account of the cluster', () => cluster.serviceAccountToken({ namespace: 'payments', name: 'default', audience: ISSUER, now }), {}, /no client trusts/],
      ['another subject, naming the client', () => cluster.serviceAccountToken({ namespace: 'billing', name: 'payments-api', audience: ISSUER, now }), { client_id: 'payments-api' }, /sub/],
      ['another audience', () => cluster.serviceAccountToken({ namespace: 'payments', name: 'payments-api', audience: 'https://kubernetes.default.svc', now }), {}, /aud/],
      ['a key the issuer never published', () => cluster.serviceAccountToken({ namespace: 'payments', name: 'payments-api', audience: ISSUER, now, key: 'unpublished' }), {}, /no key/],
      ['no exp (a legacy service-account secret)', () => cluster.serviceAccountToken({ namespace: 'payments', name: 'payments-api', audience: ISSUER, now, omit: ['exp'] }), {}, /exp/],
      ['a lifetime beyond FEDERATED_ASSERTION_MAX_LIFETIME', () => cluster.serviceAccountToken({ namespace: 'payments', name: 'payments-api', audience: ISSUER, now, lifetime: 2 * 86_400 }), {}, /FEDERATED_ASSERTION_MAX_LIFETIME/],
      ['an expired token', () => cluster.serviceAccountToken({ namespace: 'payments', name: 'payments-api', audience: ISSUER, now: now - 7_200_000 }), {}, /expired/],
      ['an SVID of another SPIFFE ID', () => spire.svid({ spiffeId: 'spiffe://example.org/ns/ledger/sa/other', audience: ISSUER, now }), { client_id: 'ledger' }, /sub/],
      ["one issuer's token for the other's client", () => cluster.serviceAccountToken({ namespace: 'payments', name: 'payments-api', audience: ISSUER, now }), { client_id: 'ledger' }, /no key/]
    ]
    for (const [description, make, fields, reason] of refusals) {
      for (const [name, app] of [['A', a], ['B', b]] as const) {
        const refused = await grant(app, await make(), fields)
        assertOAuthError(t, refused, 401, 'invalid_client')
        t.match(refused.json().error_description, reason, `${description}: refused on ${name}`)
      }
    }
  })
}

test("a key rotation at the issuer is picked up without a restart, the refetch bounded by a cooldown", async (t) => {
  const clock = settableClock()
  const app = await buildApp(t, await storeEnv(t, 'embedded'), clock)
  const cluster = await startWorkloadIssuer(t, 'kubernetes')
  await app.auth.clients.create('payments-api', {
    scopes: [],
    audiences: [CLIENT_AUDIENCE],
    privileges: [],
    credential: { auth_method: 'federated', federated_issuer: cluster.issuer, federated_subject: 'system:serviceaccount:payments:payments-api' }
  })
  const token = () => cluster.serviceAccountToken({ namespace: 'payments', name: 'payments-api', audience: ISSUER, now: clock.now() })
  t.equal((await grant(app, await token())).statusCode, 200, 'the first key')
  t.equal(cluster.fetches(), 1, 'the JWKS fetched once')

  await cluster.rotate()
  const rotated = await token()
  assertOAuthError(t, await grant(app, rotated), 401, 'invalid_client')
  t.equal(cluster.fetches(), 1, 'a new kid within the cooldown of the last fetch is not fetched again: made-up kids cannot hammer the issuer')

  clock.advance(31_000)
  t.equal((await grant(app, rotated)).statusCode, 200, 'after the cooldown, the new kid is fetched and the token passes')
  t.equal(cluster.fetches(), 2)
  t.equal((await grant(app, await token())).statusCode, 200, 'and the next token, from the cache')
  t.equal(cluster.fetches(), 2)
})

test("the Kubernetes example's fetch-token.mjs gets a token with the projected token file, as a pod would", async (t) => {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const app = await buildApp(t, await storeEnv(t, 'embedded', { ISSUER: issuer }))
  await app.listen({ port, host: '127.0.0.1' })
  const cluster = await startWorkloadIssuer(t, 'kubernetes')
  await app.auth.clients.create('payments-api', {
    scopes: [],
    audiences: ['https://payments.internal'],
    privileges: [],
    credential: { auth_method: 'federated', federated_issuer: cluster.issuer, federated_subject: 'system:serviceaccount:payments:payments-api' }
  })
  const dir = mkdtempSync(join(tmpdir(), 'projected-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const tokenFile = join(dir, 'token')
  writeFileSync(tokenFile, `${await cluster.serviceAccountToken({ namespace: 'payments', name: 'payments-api', audience: issuer, now: Date.now() })}\n`)
  const script = join(import.meta.dirname, '..', '..', '..', 'k8s', 'examples', 'workload', 'fetch-token.mjs')
  const env = { PATH: process.env.PATH!, TOKEN_FILE: tokenFile, AUTH_URL: issuer, RESOURCE: 'https://payments.internal' }
  const { stdout } = await promisify(execFile)(process.execPath, [script], { env })
  t.match(JSON.parse(stdout), { client_id: 'payments-api', aud: 'https://payments.internal', expires_at: String }, 'a token for the workload, the token itself never printed')

  writeFileSync(tokenFile, await cluster.serviceAccountToken({ namespace: 'payments', name: 'default', audience: issuer, now: Date.now() }))
  const refused = await promisify(execFile)(process.execPath, [script], { env }).then(() => undefined, (error: { stderr: string }) => error)
  t.match(refused?.stderr, /401 invalid_client/, 'another account: the script says why')
})
