/**
 * The bounds on fetching a client's or a federated issuer's keys (auth/key-sets.ts): an operator-registered URI
 * must not make the service follow redirects, read without end, wait without end, or reach plain http beyond
 * loopback. A real HTTP server on loopback plays each misbehaving key server.
 */
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'tap'
import { settableClock } from '../../src/auth/clock.js'
import { createKeySets, FETCH_TIMEOUT_MS, KeySetError, keySetUriProblem, MAX_KEY_SET_BYTES } from '../../src/auth/key-sets.js'
import type { TestContext } from '../helper.js'

const KEYS = { keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'a' }] }

async function keyServer(t: TestContext, routes: Record<string, (response: ServerResponse) => void>): Promise<{ url: string; hits: Record<string, number> }> {
  const hits: Record<string, number> = {}
  const server = createServer((request, response) => {
    hits[request.url!] = (hits[request.url!] ?? 0) + 1
    const route = routes[request.url!]
    if (route === undefined) response.writeHead(404).end()
    else route(response)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits }
}

const json = (body: unknown) => (response: ServerResponse) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))

test('key URIs: https, or plain http to loopback outside production; no credentials, no fragment', async (t) => {
  t.equal(keySetUriProblem('https://keys.example/jwks.json', true), undefined)
  t.equal(keySetUriProblem('http://127.0.0.1:8080/jwks', false), undefined)
  t.equal(keySetUriProblem('http://localhost/jwks', false), undefined)
  t.match(keySetUriProblem('http://127.0.0.1:8080/jwks', true), /https only in production/)
  t.match(keySetUriProblem('http://10.0.0.5/jwks', false), /loopback/)
  t.match(keySetUriProblem('http://169.254.169.254/latest/meta-data', false), /loopback/, 'no cloud metadata address over plain http')
  t.match(keySetUriProblem('ftp://keys.example/jwks', false), /https only/)
  t.match(keySetUriProblem('https://user:secret@keys.example/jwks', false), /credentials/)
  t.match(keySetUriProblem('https://keys.example/jwks#x', false), /fragment/)
  t.match(keySetUriProblem('not a url', false), /absolute URL/)
})

test('a fetch follows no redirect, reads at most MAX_KEY_SET_BYTES, waits at most FETCH_TIMEOUT_MS, takes only a JWK Set', async (t) => {
  const { url, hits } = await keyServer(t, {
    '/jwks': json(KEYS),
    '/redirect': (response) => response.writeHead(302, { location: '/jwks' }).end(),
    '/huge': (response) => response.writeHead(200, { 'content-type': 'application/json' }).end(`{"keys":[],"pad":"${'x'.repeat(MAX_KEY_SET_BYTES)}"}`),
    '/silent': () => undefined,
    '/not-a-set': json({ hello: 'world' }),
    '/broken': (response) => response.writeHead(200).end('{not json'),
    '/error': (response) => response.writeHead(500).end()
  })
  const keySets = createKeySets({ production: false, clock: settableClock() })
  t.same(await keySets.at(`${url}/jwks`), KEYS, 'a JWK Set')
  await t.rejects(keySets.at(`${url}/redirect`), { name: 'KeySetError', message: /302 \(redirects are not followed\)/ })
  t.equal(hits['/jwks'], 1, 'the redirect target was never asked')
  await t.rejects(keySets.at(`${url}/huge`), { name: 'KeySetError', message: /larger than/ })
  const started = performance.now()
  await t.rejects(keySets.at(`${url}/silent`), { name: 'KeySetError', message: /no answer within/ })
  t.ok(performance.now() - started < FETCH_TIMEOUT_MS + 1_500, 'given up after the timeout')
  await t.rejects(keySets.at(`${url}/not-a-set`), { name: 'KeySetError', message: /not a JWK Set/ })
  await t.rejects(keySets.at(`${url}/broken`), { name: 'KeySetError', message: /not JSON/ })
  await t.rejects(keySets.at(`${url}/error`), { name: 'KeySetError', message: /answered 500/ })
  const production = createKeySets({ production: true, clock: settableClock() })
  await t.rejects(production.at(`${url}/jwks`), KeySetError, 'plain http is never fetched in production')
  t.equal(hits['/jwks'], 1)
})

test('cached for ten minutes; a refresh at most once per cooldown; a failed fetch keeps the last set and waits out the cooldown', async (t) => {
  let answer: (response: ServerResponse) => void = json(KEYS)
  const { url, hits } = await keyServer(t, { '/jwks': (response) => answer(response) })
  const clock = settableClock()
  const keySets = createKeySets({ production: false, clock })
  await keySets.at(`${url}/jwks`)
  await keySets.at(`${url}/jwks`, true)
  t.equal(hits['/jwks'], 1, 'a refresh right after a fetch is not made')
  clock.advance(31_000)
  await keySets.at(`${url}/jwks`, true)
  t.equal(hits['/jwks'], 2, 'after the cooldown it is')
  await keySets.at(`${url}/jwks`)
  t.equal(hits['/jwks'], 2, 'within ten minutes, from the cache')
  answer = (response) => response.writeHead(503).end()
  clock.advance(11 * 60_000)
  t.same(await keySets.at(`${url}/jwks`), KEYS, 'the server fails: the last set keeps answering')
  t.equal(hits['/jwks'], 3)
  await keySets.at(`${url}/jwks`, true)
  t.equal(hits['/jwks'], 3, 'and the failed server is not asked again within the cooldown')

  const fresh = createKeySets({ production: false, clock })
  await t.rejects(fresh.at(`${url}/jwks`), /answered 503/, 'no set to fall back on: refused')
  await t.rejects(fresh.at(`${url}/jwks`), /answered 503/)
  t.equal(hits['/jwks'], 4, 'the failure is remembered for the cooldown')
})

test('OIDC discovery: the jwks_uri of the document that names the issuer it was fetched for', async (t) => {
  let issuerInDocument = ''
  const { url } = await keyServer(t, {
    '/.well-known/openid-configuration': (response) => json({ issuer: issuerInDocument, jwks_uri: `${url}/keys` })(response),
    '/other/.well-known/openid-configuration': json({ issuer: 'x' })
  })
  issuerInDocument = url
  const keySets = createKeySets({ production: false, clock: settableClock() })
  t.equal(await keySets.discoveredUri(url), `${url}/keys`)
  await t.rejects(keySets.discoveredUri(`${url}/other`), /names another issuer/)
})
