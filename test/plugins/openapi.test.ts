import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Validator } from '@seriousme/openapi-schema-validator'
import { test } from 'tap'
import { assertError, buildAdminApp, buildTestApp, type TestContext } from '../helper.js'

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

/** `redocly lint` (recommended rules) on a document: its error and warning counts. */
function redoclyLint(t: TestContext, document: unknown): { errors: number; warnings: number } {
  const file = join(mkdtempSync(join(tmpdir(), 'openapi-')), 'openapi.json')
  writeFileSync(file, JSON.stringify(document))
  const run = spawnSync(join(import.meta.dirname, '..', '..', 'node_modules', '.bin', 'redocly'), ['lint', file, '--format=json'], { encoding: 'utf8' })
  t.ok(run.stdout.includes('{'), `redocly answered: ${run.stderr.slice(-500)}`)
  return (JSON.parse(run.stdout.slice(run.stdout.indexOf('{'))) as { totals: { errors: number; warnings: number } }).totals
}

test('the OpenAPI document passes @redocly/cli lint with no error, and says what clients need', async (t) => {
  const app = await buildTestApp(t, 'redis-postgres')
  const document = (await app.inject({ url: '/docs/json' })).json() as {
    servers: { url: string }[]
    paths: Record<string, Record<string, { operationId: string; security: unknown[] }>>
  }
  t.equal(redoclyLint(t, document).errors, 0, 'no error')
  t.same(document.servers.map((server) => server.url), ['/'], 'a relative server: "Try it out" calls the page\'s own origin')
  const operations = Object.entries(document.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, operation]) => ({ path, method, ...operation })))
  const ids = operations.map((operation) => operation.operationId)
  t.equal(new Set(ids).size, ids.length, 'every operation has an operationId of its own')
  t.same(Object.keys(document.paths['/auth/verify']!), ['get'], '/auth/verify is one operation')
  t.notOk(Object.keys(document.paths).some((path) => path.startsWith('/auth/verify/')), 'not one per sub-path')
  t.same(document.paths['/api/login']!.post!.security, [], 'public routes say so')
  t.same(document.paths['/oauth/token']!.post!.security, [{ client: [] }], '/oauth/* use the client scheme')
  t.same(document.paths['/api/user']!.get!.security, [{ bearer: [] }], 'user routes the bearer scheme')
  t.ok(document.paths['/oauth/revocations']?.get, 'the revocation feed is documented (with Redis)')
  type Responses = Record<string, { description: string; content?: Record<string, { schema: { $ref?: string }; example?: { code?: string; error?: string } }> }>
  const responses = (path: string, method: string) => (document.paths[path]![method] as unknown as { responses: Responses }).responses
  const example = (path: string, method: string, status: string) => responses(path, method)[status]!.content!['application/json']!.example
  t.equal(example('/api/register', 'post', '409')?.code, 'EMAIL_TAKEN', '409 shows EMAIL_TAKEN')
  t.equal(example('/api/login', 'post', '429')?.code, 'RATE_LIMITED', '429 shows RATE_LIMITED')
  t.equal(example('/api/user', 'get', '503')?.code, 'STORE_UNAVAILABLE', '503 shows STORE_UNAVAILABLE')
  t.equal(example('/api/login', 'post', '401')?.code, 'INVALID_CREDENTIALS', 'login\'s 401 shows INVALID_CREDENTIALS')
  t.equal(example('/oauth/token', 'post', '401')?.error, 'invalid_client', 'the OAuth endpoints\' errors in RFC 6749 form')
  t.equal(responses('/api/register', 'post')['409']!.description, 'Conflict', 'a description per status')
  t.notOk(operations.some((operation) => Object.values((operation as unknown as { responses: Responses }).responses).some((r) => r.description === 'Default Response')), 'no "Default Response" left')
  // Realistic examples in the request bodies ("Try it out" starts from them), not characters made up from a pattern.
  const bodyField = (path: string, method: string, type: string, field: string) =>
    (document.paths[path]![method] as unknown as { requestBody: { content: Record<string, { schema: { properties: Record<string, { examples?: unknown[] }> } }> } }).requestBody.content[type]!.schema.properties[field]?.examples
  t.same(bodyField('/api/register', 'post', 'application/json', 'email'), ['ada@example.com'])
  t.same(bodyField('/api/register', 'post', 'application/json', 'name'), ['Ada Lovelace'])
  t.same(bodyField('/api/login', 'post', 'application/json', 'password'), ['correct horse battery staple'])
  t.same(bodyField('/api/user/password', 'put', 'application/json', 'password'), ['a new and longer passphrase'])
  t.same(bodyField('/oauth/token', 'post', 'application/x-www-form-urlencoded', 'grant_type'), ['client_credentials'])
  const schemaOf = (path: string, method: string, status: string) => responses(path, method)[status]!.content!['application/json']!.schema as { $ref?: string; properties?: Record<string, unknown> }
  t.same(schemaOf('/api/user', 'get', '200'), { $ref: '#/components/schemas/User' }, 'the schemas clients meet again are shared components')
  t.same(schemaOf('/api/login', 'post', '200'), { $ref: '#/components/schemas/TokenResponse' })
  t.same(schemaOf('/api/register', 'post', '201').properties!.data, { $ref: '#/components/schemas/User' }, 'register\'s data is a User')
  t.same(schemaOf('/api/register', 'post', '409'), { $ref: '#/components/schemas/Error' })
  // The lint does find errors (so the check above can fail): two operations under one id.
  const broken = structuredClone(document)
  broken.paths['/api/login']!.post!.operationId = broken.paths['/api/user']!.get!.operationId
  t.ok(redoclyLint(t, broken).errors > 0, 'a duplicated operationId is an error')
})

test("the admin API's own document, on the management port, passes redocly lint too", async (t) => {
  const { management } = await buildAdminApp(t, 'embedded')
  const document = (await management.inject({ url: '/admin/openapi.json' })).json() as { paths: Record<string, Record<string, { security: unknown; responses: Record<string, { content?: Record<string, { example?: { code?: string } }> }> }>> }
  t.equal(redoclyLint(t, document).errors, 0, 'no error')
  const operations = Object.values(document.paths).flatMap((methods) => Object.values(methods))
  t.ok(operations.length >= 9 && operations.every((operation) => JSON.stringify(operation.security) === '[{"admin":[]}]'), 'every operation names the admin bearer scheme')
  t.equal(document.paths['/admin/clients']!.post!.responses['409']!.content!['application/json']!.example!.code, 'CLIENT_EXISTS', "the admin API's own error codes in its examples")
})
