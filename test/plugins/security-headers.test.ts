import type { IncomingMessage, ServerResponse } from 'node:http'
import helmet from 'helmet'
import { test } from 'tap'
import { helmetHeaders } from '../../src/plugins/security-headers.js'
import { bearer, buildTestApp } from '../helper.js'

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

test('every answer carries them: a route, a 404, a 401 and a 400', async (t) => {
  const app = await buildTestApp(t, 'embedded')
  const expected = setByHelmet()
  const answers = {
    route: await app.inject({ url: '/health/live' }),
    'not found': await app.inject({ url: '/nowhere' }),
    unauthorized: await app.inject({ url: '/api/user', headers: bearer('not.a.token') }),
    'bad request': await app.inject({ method: 'POST', url: '/api/login', payload: { email: 1 } })
  }
  t.same(Object.values(answers).map((answer) => answer.statusCode), [200, 404, 401, 400])
  for (const [what, answer] of Object.entries(answers)) {
    for (const [name, value] of Object.entries(expected)) t.equal(answer.headers[name], value, `${what}: ${name}`)
  }
})
