import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { InjectOptions } from 'fastify'
import { exportJWK, generateKeyPair } from 'jose'
import { test } from 'tap'
import { managementServer } from '../../src/management.js'
import {
  ADMIN,
  assertError,
  basic,
  bearer,
  buildAdminApp,
  buildLoggedApp,
  CLIENT_AUDIENCE,
  CLIENT_VERIFY_URL,
  form,
  registerAndLogin,
  STORE_MODES,
  storeEnv
} from '../helper.js'

const { token: ADMIN_TOKEN } = ADMIN
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }
const adminPair = buildAdminApp

const json = (method: InjectOptions['method'], url: string, payload?: unknown): InjectOptions => ({ method, url, headers: admin, ...(payload === undefined ? {} : { payload: payload as object }) })

/** The audit lines the log holds, as objects. */
const auditLines = (lines: string[]) =>
  lines
    .map((line) => JSON.parse(line) as { audit?: { event: string; target?: string; status: number } })
    .flatMap(({ audit }) => (audit?.event.startsWith('admin.') === true ? [{ operation: audit.event.slice('admin.'.length), target: audit.target, status: audit.status }] : []))

for (const mode of STORE_MODES) {
  test(`admin API: clients, with the CLI's rules (${mode})`, async (t) => {
    const { app, management, lines } = await adminPair(t, mode)

    const created = await management.inject(json('POST', '/admin/clients', { client_id: 'orders', scope: 'orders:read', audiences: [CLIENT_AUDIENCE], privileges: ['introspect'] }))
    t.equal(created.statusCode, 201, created.body)
    const { client_secret: secret, ...view } = created.json()
    t.match(view, { client_id: 'orders', scope: 'orders:read', audiences: [CLIENT_AUDIENCE], privileges: ['introspect'], auth_method: 'client_secret', created_at: String })
    t.type(secret, 'string', 'the secret, once')
    const token = async (clientSecret: string) => app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('orders', clientSecret)))
    const issued = await token(secret)
    t.equal(issued.statusCode, 200, 'the new client gets tokens on the public port')
    const accessToken = issued.json().access_token as string

    t.same((await management.inject(json('GET', '/admin/clients'))).json(), { clients: [view] }, 'list: never a secret')
    t.same((await management.inject(json('GET', '/admin/clients/orders'))).json(), view, 'show')
    t.notMatch((await management.inject(json('GET', '/admin/clients'))).body, /secret_hash|"client_secret":/, "no secret and no hash")

    const updated = await management.inject(json('PATCH', '/admin/clients/orders', { scope: 'orders:read orders:write' }))
    t.equal(updated.statusCode, 200)
    t.match(updated.json(), { scope: 'orders:read orders:write', audiences: [CLIENT_AUDIENCE] }, 'only the fields given change')
    t.notOk('client_secret' in updated.json(), 'no secret when the credential did not change')

    const rotated = await management.inject(json('POST', '/admin/clients/orders/rotate-secret'))
    t.equal(rotated.statusCode, 200)
    t.match(rotated.json(), { client_id: 'orders', client_secret: String })
    t.not(rotated.json().client_secret, secret)
    t.equal((await token(secret)).statusCode, 401, 'the old secret stops at once')
    t.equal((await app.inject({ url: CLIENT_VERIFY_URL, headers: bearer(accessToken) })).statusCode, 401, 'and so do its tokens')
    const fresh = (await token(rotated.json().client_secret)).json().access_token as string

    const deleted = await management.inject(json('DELETE', '/admin/clients/orders'))
    t.same(deleted.json(), { client_id: 'orders', deleted: true })
    t.equal((await app.inject({ url: CLIENT_VERIFY_URL, headers: bearer(fresh) })).statusCode, 401, 'delete refuses its tokens first')
    assertError(t, await management.inject(json('GET', '/admin/clients/orders')), 404, 'NOT_FOUND')
    assertError(t, await management.inject(json('DELETE', '/admin/clients/orders')), 404, 'NOT_FOUND')

    // A client without a secret: keys in the body; rotation has nothing to rotate.
    const { publicKey } = await generateKeyPair('ES256')
    const keyed = await management.inject(json('POST', '/admin/clients', { client_id: 'signer', audiences: [CLIENT_AUDIENCE], credential: { auth_method: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1' }] } } }))
    t.equal(keyed.statusCode, 201, keyed.body)
    t.match(keyed.json(), { auth_method: 'private_key_jwt', jwks: { keys: [{ kid: 'k1' }] } })
    t.notOk('client_secret' in keyed.json())
    assertError(t, await management.inject(json('POST', '/admin/clients/signer/rotate-secret')), 409, 'CLIENT_HAS_NO_SECRET')
    const secretAgain = await management.inject(json('PATCH', '/admin/clients/signer', { credential: { auth_method: 'client_secret' } }))
    t.match(secretAgain.json(), { auth_method: 'client_secret', client_secret: String }, 'a secret again, shown once')
    const federated = await management.inject(json('POST', '/admin/clients', { client_id: 'batch', audiences: [CLIENT_AUDIENCE], credential: { auth_method: 'federated', federated_issuer: 'https://oidc.cluster.example', federated_subject: 'system:serviceaccount:batch:default' } }))
    t.equal(federated.statusCode, 201, federated.body)
    t.match(federated.json().warnings, [/default service account/], "the namespace's default account is warned about")
    assertError(t, await management.inject(json('POST', '/admin/clients', { client_id: 'batch' })), 409, 'CLIENT_EXISTS')

    const audits = auditLines(lines)
    for (const operation of ['clients.create', 'clients.list', 'clients.show', 'clients.update', 'clients.rotate-secret', 'clients.delete']) {
      t.ok(audits.some((audit) => audit.operation === operation), `an audit line for ${operation}`)
    }
    t.match(audits.find((audit) => audit.operation === 'clients.create'), { target: 'orders', status: 201 })
    t.match(audits.find((audit) => audit.operation === 'clients.delete' && audit.status === 404), { target: 'orders' })
    const log = lines.join('\n')
    t.notOk(log.includes(secret) || log.includes(rotated.json().client_secret as string), 'no secret in the log')
    t.notOk(log.includes(ADMIN_TOKEN), 'nor the admin token')
  })

  test(`admin API: accounts by email or id (${mode})`, async (t) => {
    const { app, management, lines } = await adminPair(t, mode)
    const ada = await registerAndLogin(app)
    const shown = await management.inject(json('GET', `/admin/users/${encodeURIComponent(ada.email)}`))
    t.equal(shown.statusCode, 200)
    const id = shown.json().id as string
    t.match(shown.json(), { id: String, email: ada.email, disabled_at: null, created_at: String })
    t.notOk('password_hash' in shown.json(), 'never the hash')
    t.same((await management.inject(json('GET', `/admin/users/${id}`))).json(), shown.json(), 'by id too')

    const disabled = await management.inject(json('POST', `/admin/users/${id}/disable`))
    t.match(disabled.json(), { id, disabled_at: String })
    assertError(t, await app.inject({ url: '/api/user', headers: bearer(ada.token) }), 401, 'TOKEN_REVOKED')
    assertError(t, await app.inject({ method: 'POST', url: '/api/login', payload: { email: ada.email, password: ada.password } }), 403, 'ACCOUNT_DISABLED')
    const enabled = await management.inject(json('POST', `/admin/users/${encodeURIComponent(ada.email)}/enable`))
    t.match(enabled.json(), { id, disabled_at: null })
    const again = await app.inject({ method: 'POST', url: '/api/login', payload: { email: ada.email, password: ada.password } })
    t.equal(again.statusCode, 200, 'logins work again')

    t.same((await management.inject(json('DELETE', `/admin/users/${id}`))).json(), { id, email: ada.email, deleted: true })
    assertError(t, await app.inject({ url: '/api/user', headers: bearer(again.json().access_token as string) }), 401, 'TOKEN_REVOKED')
    assertError(t, await management.inject(json('GET', `/admin/users/${id}`)), 404, 'NOT_FOUND')
    for (const account of ['nobody@example.com', '00000000-0000-4000-8000-000000000000', 'not-an-id', "x'; drop table users; --", '%00']) {
      for (const [method, suffix] of [['GET', ''], ['POST', '/disable'], ['POST', '/enable'], ['DELETE', '']] as const) {
        assertError(t, await management.inject(json(method, `/admin/users/${encodeURIComponent(account)}${suffix}`)), 404, 'NOT_FOUND')
      }
    }
    assertError(t, await management.inject(json('GET', `/admin/users/${encodeURIComponent('a\u0000@example.com')}`)), 400, 'VALIDATION_FAILED')
    assertError(t, await management.inject(json('GET', `/admin/users/${'a'.repeat(256)}`)), 400, 'VALIDATION_FAILED')
    // Control characters, which PostgreSQL refuses (a NUL), are a 400 on every store, and never a 503.
    const controls: unknown[] = [
      { client_id: 'c', audiences: ['https://x.example/\u0000'] },
      { client_id: 'c', audiences: ['https://x.example'], credential: { auth_method: 'federated', federated_issuer: 'https://i.example', federated_subject: 'system:serviceaccount:a:\u0000' } },
      { client_id: 'c', audiences: ['https://x.example'], credential: { auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'a\u0000' }] } } }
    ]
    for (const payload of controls) assertError(t, await management.inject(json('POST', '/admin/clients', payload)), 400, 'VALIDATION_FAILED')
    t.match(auditLines(lines), [{ operation: 'users.show', target: ada.email, status: 200 }, { operation: 'users.show', target: id }, { operation: 'users.disable', target: id, status: 200 }])
  })
}

test('admin API: the bearer token, the public port, bad bodies, its own OpenAPI document', async (t) => {
  const { app, management, lines } = await adminPair(t, 'embedded', { DOCS: 'true' })

  const refusals: [string, Record<string, string>, string][] = [
    ['no Authorization', {}, 'TOKEN_MISSING'],
    ['Basic', { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` }, 'TOKEN_MISSING'],
    ['an empty bearer', { authorization: 'Bearer ' }, 'TOKEN_MISSING'],
    ['a wrong token', { authorization: `Bearer ${randomBytes(32).toString('base64url')}` }, 'TOKEN_INVALID'],
    ['the token and more', { authorization: `Bearer ${ADMIN_TOKEN}x` }, 'TOKEN_INVALID'],
    ['a prefix of the token', { authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}` }, 'TOKEN_INVALID'],
    ['the token in another case', { authorization: `Bearer ${ADMIN_TOKEN.toUpperCase()}` }, 'TOKEN_INVALID']
  ]
  for (const [description, headers, code] of refusals) {
    for (const [method, url] of [['GET', '/admin/clients'], ['POST', '/admin/clients'], ['DELETE', '/admin/users/a@b.example']] as const) {
      const response = await management.inject({ method, url, headers, ...(method === 'POST' ? { payload: { client_id: 'sneaky' } } : {}) })
      t.test(`${description}: ${method} ${url}`, async (t) => assertError(t, response, 401, code))
    }
  }
  t.same((await management.inject(json('GET', '/admin/clients'))).json(), { clients: [] }, 'no refused call created anything')
  t.ok(auditLines(lines).some((audit) => audit.operation === 'clients.create' && audit.status === 401), 'a refused call leaves its audit line')

  // The public port has no admin API, even with the right token.
  for (const [method, url] of [['GET', '/admin/clients'], ['POST', '/admin/clients'], ['GET', '/admin/users/a@b.example'], ['GET', '/admin/openapi.json']] as const) {
    assertError(t, await app.inject({ method, url, headers: admin, ...(method === 'POST' ? { payload: { client_id: 'x' } } : {}) }), 404, 'NOT_FOUND')
  }

  const badBodies: [string, unknown, RegExp][] = [
    ['no client_id', {}, /client_id/],
    ['a client_id with a space', { client_id: 'two words' }, /client_id/],
    ['a scope with a quote', { client_id: 'c', scope: 'a"b' }, /scope/],
    ['a relative audience', { client_id: 'c', audiences: ['/orders'] }, /audiences \/orders: is not an audience/],
    ['DEFAULT_AUDIENCE', { client_id: 'c', audiences: ['http://auth.test'] }, /DEFAULT_AUDIENCE/],
    ['DEFAULT_AUDIENCE to exchange for', { client_id: 'c', exchange_audiences: ['http://auth.test'] }, /exchange_audiences .*DEFAULT_AUDIENCE/],
    ['an unknown privilege', { client_id: 'c', privileges: ['everything'] }, /privileges/],
    ['audiences as a string', { client_id: 'c', audiences: 'https://x.example' }, /audiences/],
    ['an unknown method', { client_id: 'c', credential: { auth_method: 'none' } }, /auth_method/],
    ['private_key_jwt without keys', { client_id: 'c', credential: { auth_method: 'private_key_jwt' } }, /needs jwks_uri or jwks/],
    ['a URI and a set', { client_id: 'c', credential: { auth_method: 'private_key_jwt', jwks_uri: 'https://k.example/j', jwks: { keys: [] } } }, /not both/],
    ['an empty set', { client_id: 'c', credential: { auth_method: 'private_key_jwt', jwks: { keys: [] } } }, /no key/],
    ['a private key', { client_id: 'c', credential: { auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' }] } } }, /private/],
    ['plain http to another host', { client_id: 'c', credential: { auth_method: 'private_key_jwt', jwks_uri: 'http://keys.example/j' } }, /loopback/],
    ['federated without a subject', { client_id: 'c', credential: { auth_method: 'federated', federated_issuer: 'https://i.example' } }, /federated_subject/],
    ['a secret with keys', { client_id: 'c', credential: { auth_method: 'client_secret', jwks_uri: 'https://k.example/j' } }, /takes no keys/],
    ['an unknown member', { client_id: 'c', audience: ['https://x.example'] }, /unknown member body\/audience/],
    ['an unknown credential member', { client_id: 'c', credential: { auth_method: 'private_key_jwt', jwks_url: 'https://k.example/j' } }, /unknown member body\/credential\/jwks_url/],
    ['a client_id of dots', { client_id: '..' }, /client_id/],
    ['a scope over 100 characters', { client_id: 'c', scope: `a ${'b'.repeat(101)}` }, /scope: .* is not a valid scope/],
    ['an array', [], /object/],
    ['a string', 'orders', /object|JSON/]
  ]
  for (const [description, payload, message] of badBodies) {
    const response = await management.inject({ method: 'POST', url: '/admin/clients', headers: { ...admin, 'content-type': 'application/json' }, payload: JSON.stringify(payload) })
    assertError(t, response, 400, 'VALIDATION_FAILED')
    t.match(response.json().message, message, description)
  }
  assertError(t, await management.inject({ method: 'POST', url: '/admin/clients', headers: { ...admin, 'content-type': 'application/json' }, payload: '{"client_id":' }), 400, 'MALFORMED_BODY')
  await management.inject(json('POST', '/admin/clients', { client_id: 'kept', audiences: [CLIENT_AUDIENCE] }))
  assertError(t, await management.inject(json('PATCH', '/admin/clients/kept', {})), 400, 'VALIDATION_FAILED')
  const typo = await management.inject(json('PATCH', '/admin/clients/kept', { scopes: 'a b' }))
  assertError(t, typo, 400, 'VALIDATION_FAILED')
  t.match(typo.json().message, /unknown member body\/scopes/, 'a typo is refused, not an update that changes nothing')
  const bodiless = await management.inject({ method: 'POST', url: '/admin/clients/kept/rotate-secret', headers: { ...admin, 'content-type': 'application/json' } })
  t.equal(bodiless.statusCode, 200, 'an empty body that says application/json is no body, as on the public port')
  const longEmail = `${'a'.repeat(240)}@example.com`
  assertError(t, await management.inject(json('GET', `/admin/users/${encodeURIComponent(longEmail)}`)), 404, 'NOT_FOUND')
  assertError(t, await management.inject(json('PATCH', '/admin/clients/kept', { audiences: ['http://auth.test'] })), 400, 'VALIDATION_FAILED')
  assertError(t, await management.inject(json('PATCH', '/admin/clients/ghost', { scope: 'a' })), 404, 'NOT_FOUND')
  assertError(t, await management.inject(json('POST', '/admin/clients/ghost/rotate-secret')), 404, 'NOT_FOUND')
  assertError(t, await management.inject(json('PATCH', '/admin/clients/kept', { credential: { auth_method: 'federated' } })), 400, 'VALIDATION_FAILED')
  assertError(t, await management.inject(json('PATCH', '/admin/clients/kept', { credential: { auth_method: 'client_secret', jwks_uri: 'https://keys.example/jwks.json' } })), 400, 'VALIDATION_FAILED')
  assertError(t, await management.inject(json('GET', '/admin/clients/bad%20id')), 400, 'VALIDATION_FAILED')
  t.match((await management.inject(json('GET', '/admin/clients/kept'))).json(), { audiences: [CLIENT_AUDIENCE] }, 'and nothing was lost')
  t.same((await management.inject(json('GET', '/admin/clients'))).json().clients.map((client: { client_id: string }) => client.client_id), ['kept'], 'no refused body created a client')

  const document = (await management.inject({ url: '/admin/openapi.json' })).json()
  t.same(Object.keys(document.paths).sort(), ['/admin/clients', '/admin/clients/{client_id}', '/admin/clients/{client_id}/rotate-secret', '/admin/users/{account}', '/admin/users/{account}/disable', '/admin/users/{account}/enable'])
  t.match(document.paths['/admin/clients'].post.security, [{ admin: [] }])
  const publicDocument = (await app.inject({ url: '/docs/json' })).json()
  t.notOk(Object.keys(publicDocument.paths).some((path) => path.startsWith('/admin')), 'the public document lists no admin route')
})

test('ADMIN_TOKEN_FILE: refused at boot when it cannot be used', async (t) => {
  const env = await storeEnv(t, 'embedded', { MANAGEMENT_PORT: '9' })
  const cases: [string, string | undefined, RegExp][] = [
    ['a missing file', undefined, /ADMIN_TOKEN_FILE=.*cannot read it \(ENOENT\)/],
    ['a short token', 'short', /at least 32 characters/],
    ['two words', `${'a'.repeat(20)} ${'b'.repeat(20)}`, /without spaces/]
  ]
  for (const [description, content, message] of cases) {
    const file = join(env.DATA_DIR!, `token-${description.replace(/\W/g, '-')}`)
    if (content !== undefined) writeFileSync(file, content)
    const { app } = await buildLoggedApp(t, { ...env, ADMIN_TOKEN_FILE: file })
    await t.rejects(managementServer(app), message, description)
  }
})
