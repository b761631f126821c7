import type { IncomingMessage, ServerResponse } from 'node:http'
import helmet from 'helmet'
import { test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { managementServer } from '../../src/management.js'
import { helmetHeaders } from '../../src/plugins/security-headers.js'
import { bearer, buildTestApp, form, registerAndLogin } from '../helper.js'

/** What helmet's own middleware sets on a response, header by header. */
function setByHelmet(): Record<string, string> {
  const headers: Record<string, string> = {}
  const response = { setHeader: (name: string, value: string) => (headers[name.toLowerCase()] = value), removeHeader: () => undefined }
  helmet()({} as IncomingMessage, response as unknown as ServerResponse, () => undefined)
  return headers
}

test('the headers computed once are exactly the ones helmet sets per request', async (t) => {
  const expected = setByHelmet()
  t.same(helmetHeaders(), expected)
  t.match(expected['content-security-policy'], /default-src 'self'/, 'helmet defaults, CSP included')
  t.ok(Object.isFrozen(helmetHeaders()), 'shared between requests, so frozen')
})

test('options reach helmet, and an invalid option fails at boot rather than per request', async (t) => {
  t.notOk('x-frame-options' in helmetHeaders({ xFrameOptions: false }))
  t.throws(() => helmetHeaders({ contentSecurityPolicy: { directives: { 'default-src': ["'self'", 'none'] } } }))
})

/** The API set (plugins/security-headers.ts), exactly: nothing to render, frame or sniff. */
const API_SET = { 'x-content-type-options': 'nosniff', 'content-security-policy': "default-src 'none'; frame-ancestors 'none'", 'referrer-policy': 'no-referrer' }
/** The page set's headers that an API answer does without. */
const PAGE_ONLY = ['cross-origin-opener-policy', 'cross-origin-resource-policy', 'origin-agent-cluster', 'x-frame-options', 'x-dns-prefetch-control', 'x-download-options', 'x-permitted-cross-domain-policies', 'x-xss-protection']

test('machine answers carry the API set, errors and 404s included; only /docs carries the page set', async (t) => {
  const app = await buildTestApp(t, 'embedded')
  const { token } = await registerAndLogin(app)
  const answers: Record<string, LightMyRequestResponse> = {
    '/auth/verify': await app.inject({ url: '/auth/verify', headers: bearer(token) }),
    '/auth/verify refused': await app.inject({ url: '/auth/verify', headers: bearer('not.a.token') }),
    '/health/live': await app.inject({ url: '/health/live' }),
    '/health/ready': await app.inject({ url: '/health/ready' }),
    '/metrics': await app.inject({ url: '/metrics' }),
    'the JWKS': await app.inject({ url: '/.well-known/jwks.json' }),
    'discovery': await app.inject({ url: '/.well-known/oauth-authorization-server' }),
    '/oauth/token refused': await app.inject(form('/oauth/token', { grant_type: 'client_credentials' })),
    '/api/user': await app.inject({ url: '/api/user', headers: bearer(token) }),
    'a 401': await app.inject({ url: '/api/user', headers: bearer('not.a.token') }),
    'a 400': await app.inject({ method: 'POST', url: '/api/login', payload: { email: 1 } }),
    'a 404': await app.inject({ url: '/nowhere' })
  }
  t.same(Object.values(answers).map((answer) => answer.statusCode), [200, 401, 200, 200, 200, 200, 200, 401, 200, 401, 400, 404])
  for (const [what, answer] of Object.entries(answers)) {
    t.match(answer.headers, API_SET, `${what}: the API set`)
    t.same(PAGE_ONLY.filter((name) => name in answer.headers), [], `${what}: no page header`)
    t.notOk('strict-transport-security' in answer.headers, `${what}: no HSTS unless HSTS_MAX_AGE is set`)
  }
  t.equal(answers['/auth/verify']!.headers['cache-control'], 'no-store', 'a forward-auth answer, about a token, is not stored')
  t.equal(answers['/api/user']!.headers['cache-control'], 'no-store', 'nor personal data')

  const page = await app.inject({ url: '/docs/' })
  t.equal(page.statusCode, 200)
  const expected = setByHelmet()
  delete expected['strict-transport-security']
  for (const [name, value] of Object.entries(expected)) {
    if (name !== 'content-security-policy') t.equal(page.headers[name], value, `/docs: ${name}`)
  }
  t.match(page.headers['content-security-policy'], /default-src 'self'/, "/docs: the page's own policy")
})

test('HSTS_MAX_AGE: Strict-Transport-Security on every answer, the page included', async (t) => {
  const app = await buildTestApp(t, 'embedded', { HSTS_MAX_AGE: '180d' })
  for (const url of ['/health/live', '/nowhere', '/docs/']) {
    t.equal((await app.inject({ url })).headers['strict-transport-security'], 'max-age=15552000', url)
  }
})

test('the management listener carries the API set', async (t) => {
  const app = await buildTestApp(t, 'embedded')
  const management = await managementServer(app)
  t.teardown(() => management.close())
  const answer = await management.inject({ url: '/metrics' })
  t.equal(answer.statusCode, 200)
  t.match(answer.headers, API_SET)
})
