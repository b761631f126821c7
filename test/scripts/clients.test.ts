import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'tap'
import { assertOAuthError, basic, bearer, buildApp, form, STORE_MODES, storeEnv, type Env } from '../helper.js'

// The compiled CLI, as `npm run clients` runs it, with the service's own settings.
const CLI = join(import.meta.dirname, '..', '..', 'dist', 'scripts', 'clients.js')

function clients(env: Env, ...args: string[]) {
  const result = spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH!, ...env }, encoding: 'utf8', timeout: 30_000 })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

for (const mode of STORE_MODES) {
  test(`npm run clients: create, list, delete (${mode})`, async (t) => {
    const env = await storeEnv(t, mode)
    const created = clients(env, 'create', 'inventory', '--scope', 'stock:read stock:write')
    t.equal(created.status, 0, created.stderr)
    const printed = JSON.parse(created.stdout)
    t.same(Object.keys(printed).sort(), ['audiences', 'client_id', 'client_secret', 'privileges', 'scope'])
    t.match(printed, { client_id: 'inventory', scope: 'stock:read stock:write', audiences: [], privileges: [] })
    t.ok(Buffer.from(printed.client_secret, 'base64url').length >= 32, 'a secret of 256 bits')

    const app = await buildApp(t, env)
    const granted = await app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('inventory', printed.client_secret)))
    t.equal(granted.statusCode, 200, 'the printed secret works')
    const token = granted.json().access_token as string

    const listed = clients(env, 'list')
    t.equal(listed.status, 0)
    t.match(JSON.parse(listed.stdout), [{ client_id: 'inventory', scope: 'stock:read stock:write', audiences: [], privileges: [], created_at: String }])
    t.notMatch(listed.stdout, printed.client_secret, 'list never shows the secret')
    t.notMatch(listed.stdout, /secret/)

    const again = clients(env, 'create', 'inventory')
    t.equal(again.status, 2, 'a duplicate id is refused')
    t.match(again.stderr, /exists/)

    const deleted = clients(env, 'delete', 'inventory')
    t.equal(deleted.status, 0, deleted.stderr)
    t.equal((await app.inject({ url: '/auth/verify', headers: bearer(token) })).statusCode, 401, 'its tokens are refused at once')
    assertOAuthError(t, await app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('inventory', printed.client_secret))), 401, 'invalid_client')
    t.same(JSON.parse(clients(env, 'list').stdout), [])
  })

  test(`npm run clients: audiences and privileges (${mode})`, async (t) => {
    const env = await storeEnv(t, mode)
    const orders = 'https://orders.internal'
    const created = clients(env, 'create', 'billing', '--audience', orders, '--audience', 'https://invoices.internal/v1', '--allow', 'introspect', '--allow', 'revoke')
    t.equal(created.status, 0, created.stderr)
    const printed = JSON.parse(created.stdout)
    t.same(printed.audiences, [orders, 'https://invoices.internal/v1'])
    t.same(printed.privileges, ['introspect', 'revoke'])
    t.match(JSON.parse(clients(env, 'list').stdout), [{ client_id: 'billing', audiences: [orders, 'https://invoices.internal/v1'], privileges: ['introspect', 'revoke'] }])
    const app = await buildApp(t, env)
    const grant = (resource: string) => app.inject(form('/oauth/token', { grant_type: 'client_credentials', resource }, basic('billing', printed.client_secret)))
    t.equal((await grant(orders)).statusCode, 200, 'a token for one of its audiences')
    assertOAuthError(t, await grant('https://unrelated.invalid'), 400, 'invalid_target')
  })
}

test('npm run clients refuses bad input with a message and exit code 2', async (t) => {
  const env = await storeEnv(t, 'embedded')
  const cases: [string, string[], RegExp][] = [
    ['no command', [], /usage/],
    ['an unknown command', ['rename', 'x'], /usage/],
    ['create without an id', ['create'], /client_id/],
    ['an id with a space', ['create', 'two words'], /client_id/],
    ['an id with a colon', ['create', 'a:b'], /client_id/],
    ['a scope with a quote', ['create', 'ok', '--scope', 'a"b'], /scope/],
    ['a relative audience', ['create', 'ok', '--audience', '/orders'], /audience/],
    ['an audience with a fragment', ['create', 'ok', '--audience', 'https://x.example/#f'], /audience/],
    ['an unknown privilege', ['create', 'ok', '--allow', 'everything'], /--allow/],
    ['delete of an unknown client', ['delete', 'ghost'], /no client/]
  ]
  for (const [description, args, message] of cases) {
    const result = clients(env, ...args)
    t.equal(result.status, 2, description)
    t.match(result.stderr, message, description)
    t.equal(result.stdout, '', `${description}: nothing on stdout`)
  }
})
