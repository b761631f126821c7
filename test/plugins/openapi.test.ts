import { Validator } from '@seriousme/openapi-schema-validator'
import { test } from 'tap'
import { assertError, buildTestApp } from '../helper.js'

test('GET /docs/json is a valid OpenAPI document with every route and response', async (t) => {
  const app = await buildTestApp(t, 'embedded')
  const response = await app.inject({ url: '/docs/json' })
  t.equal(response.statusCode, 200)
  const document = response.json()
  const validator = new Validator()
  const result = await validator.validate(document)
  t.ok(result.valid, `valid OpenAPI ${document.openapi}: ${JSON.stringify(result.errors ?? []).slice(0, 2000)}`)

  const expected: [string, string, string[]][] = [
    ['/api/register', 'post', ['201', '400', '409', '429']],
    ['/api/login', 'post', ['200', '400', '401', '429']],
    ['/api/user', 'get', ['200', '401', '503']],
    ['/api/refresh', 'post', ['200', '401']],
    ['/api/refresh', 'get', ['200', '401']],
    ['/api/logout', 'post', ['200', '401']],
    ['/api/sessions', 'get', ['200', '401']],
    ['/api/sessions/{id}', 'delete', ['204', '404']],
    ['/api/user/password', 'put', ['200', '400']],
    ['/oauth/token', 'post', ['200', '400', '401']],
    ['/oauth/introspect', 'post', ['200', '401']],
    ['/oauth/revoke', 'post', ['200', '401']],
    ['/auth/verify', 'get', ['200', '401', '403']],
    ['/.well-known/jwks.json', 'get', ['200']],
    ['/.well-known/oauth-authorization-server', 'get', ['200']],
    ['/health/live', 'get', ['200']],
    ['/health/ready', 'get', ['200', '503']]
  ]
  for (const [path, method, statuses] of expected) {
    const operation = document.paths[path]?.[method]
    t.ok(operation, `${method.toUpperCase()} ${path} is documented`)
    for (const status of statuses) t.ok(operation?.responses?.[status], `${method.toUpperCase()} ${path} documents ${status}`)
  }
  t.ok(document.paths['/metrics'], 'GET /metrics is documented')
  const ui = await app.inject({ url: '/docs/' })
  t.equal(ui.statusCode, 200)
  t.match(ui.headers['content-type'], /text\/html/)
})

test('DOCS=false turns /docs and /docs/json off (404 in the error shape)', async (t) => {
  const app = await buildTestApp(t, 'embedded', { DOCS: 'false' })
  for (const url of ['/docs', '/docs/', '/docs/json', '/docs/static/index.html']) assertError(t, await app.inject({ url }), 404, 'NOT_FOUND')
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200, 'the rest is served')
})
