import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { test } from 'tap'
import { CLIENT_ASSERTION_TYPE } from '../../src/auth/client-assertions.js'
import { runClients } from '../../scripts/clients/command.js'
import { runCommand, spawnCommand } from '../cli.js'
import { assertError, assertOAuthError, basic, bearer, buildApp, CLIENT_AUDIENCE, CLIENT_VERIFY_URL, form, registerAndLogin, STORE_MODES, storeEnv, type Env } from '../helper.js'

// The command in-process; the built CLI where the process is the point.
const clients = (env: Env, ...args: string[]) => runCommand(runClients, env, args)
const spawned = (env: Env, ...args: string[]) => spawnCommand('clients', env, args)

for (const mode of STORE_MODES) {
  test(`npm run clients: create, list, delete (${mode})`, async (t) => {
    const env = await storeEnv(t, mode)
    const created = await clients(env, 'create', 'inventory', '--scope', 'stock:read stock:write', '--audience', CLIENT_AUDIENCE)
    t.equal(created.status, 0, created.stderr)
    const printed = JSON.parse(created.stdout)
    t.same(Object.keys(printed).sort(), ['audiences', 'auth_method', 'client_id', 'client_secret', 'created_at', 'privileges', 'scope'])
    t.match(printed, { client_id: 'inventory', scope: 'stock:read stock:write', audiences: [CLIENT_AUDIENCE], privileges: [] })
    t.ok(Buffer.from(printed.client_secret, 'base64url').length >= 32, 'a secret of 256 bits')

    const app = await buildApp(t, env)
    const granted = await app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('inventory', printed.client_secret)))
    t.equal(granted.statusCode, 200, 'the printed secret works')
    const token = granted.json().access_token as string
    t.equal((await app.inject({ url: CLIENT_VERIFY_URL, headers: bearer(token) })).statusCode, 200, 'its token, for its audience')

    const listed = await clients(env, 'list')
    t.equal(listed.status, 0)
    t.match(JSON.parse(listed.stdout), [{ client_id: 'inventory', scope: 'stock:read stock:write', audiences: [CLIENT_AUDIENCE], privileges: [], created_at: String }])
    t.notMatch(listed.stdout, printed.client_secret, 'list never shows the secret')
    t.notMatch(listed.stdout, /"client_secret":|secret_hash/, 'no secret member, no hash (auth_method names the method only)')

    const again = await clients(env, 'create', 'inventory')
    t.equal(again.status, 2, 'a duplicate id is refused')
    t.match(again.stderr, /exists/)

    const deleted = await clients(env, 'delete', 'inventory')
    t.equal(deleted.status, 0, deleted.stderr)
    assertError(t, await app.inject({ url: CLIENT_VERIFY_URL, headers: bearer(token) }), 401, 'TOKEN_REVOKED')
    assertOAuthError(t, await app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('inventory', printed.client_secret))), 401, 'invalid_client')
    t.same(JSON.parse((await clients(env, 'list')).stdout), [])
  })

  test(`npm run clients: audiences and privileges (${mode})`, async (t) => {
    const env = await storeEnv(t, mode)
    const orders = 'https://orders.internal'
    const created = await clients(env, 'create', 'billing', '--audience', orders, '--audience', 'https://invoices.internal/v1', '--allow', 'introspect', '--allow', 'revoke')
    t.equal(created.status, 0, created.stderr)
    const printed = JSON.parse(created.stdout)
    t.same(printed.audiences, [orders, 'https://invoices.internal/v1'])
    t.same(printed.privileges, ['introspect', 'revoke'])
    t.match(JSON.parse((await clients(env, 'list')).stdout), [{ client_id: 'billing', audiences: [orders, 'https://invoices.internal/v1'], privileges: ['introspect', 'revoke'] }])
    const app = await buildApp(t, env)
    const grant = (resource: string) => app.inject(form('/oauth/token', { grant_type: 'client_credentials', resource }, basic('billing', printed.client_secret)))
    t.equal((await grant(orders)).statusCode, 200, 'a token for one of its audiences')
    assertOAuthError(t, await grant('https://unrelated.invalid'), 400, 'invalid_target')

    for (const command of [['create', 'impostor'], ['update', 'billing']]) {
      const refused = await clients(env, ...command, '--audience', env.ISSUER!)
      t.equal(refused.status, 2, `${command[0]} refuses DEFAULT_AUDIENCE as a client's audience`)
      t.match(refused.stderr, /DEFAULT_AUDIENCE, the user tokens' audience/)
    }
    t.match(JSON.parse((await clients(env, 'show', 'billing')).stdout), { audiences: [orders, 'https://invoices.internal/v1'] }, 'and changes nothing')
  })

  test(`npm run clients: --allow exchange and --exchange-audience (${mode})`, async (t) => {
    const env = await storeEnv(t, mode)
    const payments = 'https://payments.internal'
    const created = await clients(env, 'create', 'orders', '--scope', 'pay', '--allow', 'exchange', '--exchange-audience', payments)
    t.equal(created.status, 0, created.stderr)
    t.match(JSON.parse(created.stdout), { privileges: ['exchange'], exchange_audiences: [payments] })
    t.match(JSON.parse((await clients(env, 'show', 'orders')).stdout), { exchange_audiences: [payments] })

    const app = await buildApp(t, env)
    const ada = await registerAndLogin(app)
    const exchange = (resource: string) =>
      app.inject(form('/oauth/token', { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: ada.token, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', resource }, basic('orders', JSON.parse(created.stdout).client_secret)))
    t.equal((await exchange(payments)).statusCode, 200, 'the client the CLI made exchanges for its audience')

    const refused = await clients(env, 'update', 'orders', '--exchange-audience', env.ISSUER!)
    t.equal(refused.status, 2, 'DEFAULT_AUDIENCE is refused as an exchange audience')
    t.match(refused.stderr, /DEFAULT_AUDIENCE/)
    t.equal((await clients(env, 'update', 'orders', '--exchange-audience', '')).status, 0)
    t.notOk('exchange_audiences' in JSON.parse((await clients(env, 'show', 'orders')).stdout), "--exchange-audience '' clears the list")
    assertOAuthError(t, await exchange(payments), 400, 'invalid_target')
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
    ['delete of an unknown client', ['delete', 'ghost'], /no client/],
    ['show of an unknown client', ['show', 'ghost'], /no client/],
    ['rotate-secret of an unknown client', ['rotate-secret', 'ghost'], /no client/],
    ['update of an unknown client', ['update', 'ghost', '--scope', 'a'], /no client/],
    ['update without a field', ['update', 'ok'], /--scope/],
    ['update with a bad audience', ['update', 'ok', '--audience', '/orders'], /audience/],
    ['update with an unknown privilege', ['update', 'ok', '--allow', 'everything'], /--allow/],
    ['a relative exchange audience', ['create', 'ok', '--exchange-audience', '/payments'], /audience/],
    ['--exchange-audience on show', ['show', 'ok', '--exchange-audience', 'https://x.example'], /--exchange-audience/],
    ['an unknown option', ['list', '--bogus'], /usage/]
  ]
  for (const [description, args, message] of cases) {
    const result = await clients(env, ...args)
    t.equal(result.status, 2, description)
    t.match(result.stderr, message, description)
    t.equal(result.stdout, '', `${description}: nothing on stdout`)
  }
})

for (const mode of STORE_MODES) {
  test(`npm run clients: show, update, rotate-secret (${mode})`, async (t) => {
    const env = await storeEnv(t, mode)
    const created = JSON.parse((await clients(env, 'create', 'reports', '--scope', 'a b')).stdout)
    const shown = await clients(env, 'show', 'reports')
    t.equal(shown.status, 0, shown.stderr)
    t.match(JSON.parse(shown.stdout), { client_id: 'reports', scope: 'a b', audiences: [], privileges: [], created_at: String })
    t.notMatch(shown.stdout, /"client_secret":|hash/, 'show never shows the secret or its hash')
    t.notMatch(shown.stdout, created.client_secret)
    t.match(shown.stderr, mode === 'embedded' ? /^clients store: sqlite .*clients\.db$/m : new RegExp(`^clients store: postgresql schema ${env.DATABASE_SCHEMA}$`, 'm'))
    t.notMatch(shown.stderr, /postgres:\/\//, 'never the URL (nor its password)')

    const updated = await clients(env, 'update', 'reports', '--scope', 'c', '--audience', 'https://orders.internal', '--allow', 'introspect')
    t.equal(updated.status, 0, updated.stderr)
    t.match(JSON.parse(updated.stdout), { client_id: 'reports', scope: 'c', audiences: ['https://orders.internal'], privileges: ['introspect'] })
    const partly = JSON.parse((await clients(env, 'update', 'reports', '--allow', '')).stdout)
    t.match(partly, { scope: 'c', audiences: ['https://orders.internal'], privileges: [] }, 'only the fields given are replaced')

    const app = await buildApp(t, env)
    const grant = (secret: string) => app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('reports', secret)))
    const before = await grant(created.client_secret)
    t.equal(before.statusCode, 200)
    t.equal(before.json().scope, 'c', 'the updated scope is what the grant gives')
    const oldToken = before.json().access_token as string
    const ORDERS_VERIFY_URL = `/auth/verify?audience=${encodeURIComponent('https://orders.internal')}`
    t.equal((await app.inject({ url: ORDERS_VERIFY_URL, headers: bearer(oldToken) })).statusCode, 200, 'for the audience the update gave')

    const rotated = await clients(env, 'rotate-secret', 'reports')
    t.equal(rotated.status, 0, rotated.stderr)
    const { client_id, client_secret } = JSON.parse(rotated.stdout)
    t.equal(client_id, 'reports')
    t.not(client_secret, created.client_secret)
    assertOAuthError(t, await grant(created.client_secret), 401, 'invalid_client')
    assertError(t, await app.inject({ url: ORDERS_VERIFY_URL, headers: bearer(oldToken) }), 401, 'TOKEN_REVOKED')
    const after = await grant(client_secret)
    t.equal(after.statusCode, 200, 'the new secret works')
    t.equal((await app.inject({ url: ORDERS_VERIFY_URL, headers: bearer(after.json().access_token) })).statusCode, 200)
    t.notMatch((await clients(env, 'show', 'reports')).stdout, client_secret)
  })
}

for (const mode of STORE_MODES) {
  test(`npm run clients: clients without a secret, one per method, and switching between methods (${mode})`, async (t) => {
    const env = await storeEnv(t, mode, { ISSUER: 'http://auth.test' })
    const dir = mkdtempSync(join(tmpdir(), 'clients-keys-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
    const publicJwk = { ...(await exportJWK(publicKey)), kid: 'k1' }
    const keyFile = (name: string, body: unknown) => {
      writeFileSync(join(dir, name), JSON.stringify(body))
      return join(dir, name)
    }
    const publicFile = keyFile('public.json', { keys: [publicJwk] })

    // private_key_jwt, keys from a file: no secret printed, the method shown.
    const created = await clients(env, 'create', 'signer', '--audience', CLIENT_AUDIENCE, '--jwks-file', publicFile)
    t.equal(created.status, 0, created.stderr)
    const printed = JSON.parse(created.stdout)
    t.match(printed, { client_id: 'signer', auth_method: 'private_key_jwt', jwks: { keys: [{ kid: 'k1', kty: 'EC' }] } })
    t.notOk('client_secret' in printed, 'no secret')
    t.match(JSON.parse((await clients(env, 'show', 'signer')).stdout), { auth_method: 'private_key_jwt' }, 'show tells the method')
    const app = await buildApp(t, env)
    const now = Math.floor(Date.now() / 1000)
    const assertion = () =>
      new SignJWT({ iss: 'signer', sub: 'signer', aud: 'http://auth.test', jti: crypto.randomUUID(), iat: now, exp: now + 60 }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(privateKey)
    const signed = async () => app.inject(form('/oauth/token', { grant_type: 'client_credentials', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: await assertion() }))
    const granted = await signed()
    t.equal(granted.statusCode, 200, 'the registered key gets a token')

    const noSecret = await clients(env, 'rotate-secret', 'signer')
    t.equal(noSecret.status, 2, 'rotate-secret refuses a client without a secret')
    t.match(noSecret.stderr, /no secret to rotate/)

    // A key URI and a federated identity; the namespace's default service account is warned about.
    const uri = await clients(env, 'create', 'fetcher', '--jwks-uri', 'https://keys.example/jwks.json')
    t.match(JSON.parse(uri.stdout), { auth_method: 'private_key_jwt', jwks_uri: 'https://keys.example/jwks.json' })
    const federated = await clients(env, 'create', 'workload', '--federated-issuer', 'https://oidc.cluster.example', '--federated-subject', 'system:serviceaccount:payments:default')
    t.equal(federated.status, 0, federated.stderr)
    t.match(JSON.parse(federated.stdout), { auth_method: 'federated', federated_issuer: 'https://oidc.cluster.example', federated_subject: 'system:serviceaccount:payments:default' })
    t.match(federated.stderr, /warning: .*default service account/, 'the default service account: a warning')
    const own = await clients(env, 'create', 'workload-own', '--federated-issuer', 'https://oidc.cluster.example', '--federated-subject', 'system:serviceaccount:payments:payments-api')
    t.notMatch(own.stderr, /warning/, 'its own account: none')
    const twice = await clients(env, 'create', 'workload-twice', '--federated-issuer', 'https://oidc.cluster.example', '--federated-subject', 'system:serviceaccount:payments:payments-api')
    t.equal(twice.status, 2, 'one client per federated issuer and subject')
    t.match(twice.stderr, /exists/)
    const svid = await clients(env, 'create', 'ledger', '--federated-issuer', 'https://spire.example', '--federated-subject', 'spiffe://example.org/ledger', '--federated-jwks-file', publicFile)
    t.match(JSON.parse(svid.stdout), { auth_method: 'federated', jwks: { keys: [{ kid: 'k1' }] } })

    // update: back to a secret (printed once; the keys' tokens refused), then to keys again (the secret refused).
    const toSecret = await clients(env, 'update', 'signer', '--secret')
    t.equal(toSecret.status, 0, toSecret.stderr)
    const { client_secret, auth_method } = JSON.parse(toSecret.stdout)
    t.equal(auth_method, 'client_secret')
    assertError(t, await app.inject({ url: CLIENT_VERIFY_URL, headers: bearer(granted.json().access_token) }), 401, 'TOKEN_REVOKED')
    assertOAuthError(t, await signed(), 401, 'invalid_client')
    t.equal((await app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('signer', client_secret)))).statusCode, 200, 'the new secret works')
    const toKeys = await clients(env, 'update', 'signer', '--jwks-file', publicFile)
    t.equal(JSON.parse(toKeys.stdout).auth_method, 'private_key_jwt')
    t.notOk('client_secret' in JSON.parse(toKeys.stdout))
    assertOAuthError(t, await app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('signer', client_secret))), 401, 'invalid_client')
    t.equal((await signed()).statusCode, 200, 'the keys work again')
  })
}

test('npm run clients: credential options that are refused, before any store is opened', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clients-bad-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const env = { DATA_DIR: join(dir, 'data') }
  const { privateKey } = await generateKeyPair('ES256', { extractable: true })
  const file = (name: string, body: unknown) => {
    writeFileSync(join(dir, name), typeof body === 'string' ? body : JSON.stringify(body))
    return join(dir, name)
  }
  const good = file('good.json', { keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' }] })
  const cases: [string, string[], RegExp][] = [
    ['a private key', ['create', 'c', '--jwks-file', file('private.json', { keys: [await exportJWK(privateKey)] })], /private \(it has "d"\)/],
    ['a symmetric key', ['create', 'c', '--jwks-file', file('oct.json', { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] })], /kty must be EC, OKP or RSA/],
    ['an empty set', ['create', 'c', '--jwks-file', file('empty.json', { keys: [] })], /no key/],
    ['not JSON', ['create', 'c', '--jwks-file', file('garbage.json', 'not json')], /not JSON/],
    ['a missing file', ['create', 'c', '--jwks-file', join(dir, 'absent.json')], /cannot read/],
    ['an HMAC alg', ['create', 'c', '--jwks-file', file('hs.json', { keys: [{ kty: 'EC', crv: 'P-256', alg: 'HS256', x: 'x', y: 'y' }] })], /alg HS256/],
    ['plain http to another host', ['create', 'c', '--jwks-uri', 'http://keys.example/jwks.json'], /loopback/],
    ['credentials in the URI', ['create', 'c', '--jwks-uri', 'https://user:pw@keys.example/jwks.json'], /credentials/],
    ['both a URI and a file', ['create', 'c', '--jwks-uri', 'https://keys.example/j', '--jwks-file', good], /not both/],
    ['keys and a federated issuer', ['create', 'c', '--jwks-file', good, '--federated-issuer', 'https://i.example'], /one credential/],
    ['an issuer without a subject', ['create', 'c', '--federated-issuer', 'https://i.example'], /both --federated-issuer and --federated-subject/],
    ['a subject without an issuer', ['create', 'c', '--federated-subject', 'system:serviceaccount:a:b'], /both/],
    ['--secret at create', ['create', 'c', '--secret'], /--secret is for update/],
    ['a credential option on show', ['show', 'c', '--jwks-file', good], /takes no/]
  ]
  for (const [description, args, message] of cases) {
    const result = await clients(env, ...args)
    t.equal(result.status, 2, `${description}: exit 2`)
    t.match(result.stderr, message, description)
    t.equal(result.stdout, '')
  }
  const production = await clients({ ...env, NODE_ENV: 'production', ISSUER: 'https://auth.example' }, 'create', 'c', '--jwks-uri', 'http://127.0.0.1:9/jwks.json')
  t.equal(production.status, 2)
  t.match(production.stderr, /https only in production/, 'plain http, even to loopback, is refused in production')
  t.notOk(existsSync(env.DATA_DIR), 'no store was opened')
})

test('npm run clients: delete with Redis down keeps the client; a retry finishes the job', async (t) => {
  const env = await storeEnv(t, 'redis-postgres')
  const { client_secret } = JSON.parse((await clients(env, 'create', 'flaky', '--audience', CLIENT_AUDIENCE)).stdout)
  const app = await buildApp(t, env)
  const token = (await app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('flaky', client_secret)))).json().access_token as string

  const down = { ...env, REDIS_URL: 'redis://127.0.0.1:1', REDIS_COMMAND_TIMEOUT_MS: '200' }
  const failed = spawned(down, 'delete', 'flaky')
  t.equal(failed.status, 1)
  t.match(failed.stderr, /could not be revoked/)
  t.notMatch(failed.stderr, /\n\s+at /, 'no stack trace')
  t.equal(failed.stdout, '')
  t.match(JSON.parse((await clients(env, 'list')).stdout), [{ client_id: 'flaky' }], 'the client is still there')
  t.equal((await app.inject({ url: CLIENT_VERIFY_URL, headers: bearer(token) })).statusCode, 200)

  const retried = await clients(env, 'delete', 'flaky')
  t.equal(retried.status, 0, retried.stderr)
  assertError(t, await app.inject({ url: CLIENT_VERIFY_URL, headers: bearer(token) }), 401, 'TOKEN_REVOKED')
  t.same(JSON.parse((await clients(env, 'list')).stdout), [])
})

test('npm run clients: --help, usage, and no store opened before the command line is checked', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'clients-cli-'))
  const env = { DATA_DIR: join(dataDir, 'data') }
  const help = spawned(env, '--help')
  t.equal(help.status, 0)
  t.match(help.stdout, /^usage: .*clients/)
  t.match(help.stdout, /rotate-secret/)
  for (const flag of ['--jwks-uri', '--jwks-file', '--federated-issuer', '--federated-subject', '--federated-jwks-uri', '--federated-jwks-file', '--secret', '--url', '--token-file']) t.match(help.stdout, flag, `--help documents ${flag}`)
  t.equal(help.stderr, '')
  for (const args of [[], ['--bogus'], ['nope'], ['create']]) {
    const result = spawned(env, ...args)
    t.equal(result.status, 2, args.join(' '))
    t.match(result.stderr, /usage:/)
    t.notMatch(result.stderr, /\n\s+at |ERR_PARSE_ARGS/, 'no stack trace')
    t.equal(result.stdout, '')
  }
  t.notOk(existsSync(env.DATA_DIR), 'no store was created')
})
