/** The clients and users CLIs with --url and --token-file: the same commands through the admin API, no store or setting read. */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'tap'
import { runClients } from '../../scripts/clients/command.js'
import { runUsers } from '../../scripts/users/command.js'
import { runCommand } from '../cli.js'
import { assertError, basic, bearer, buildAdminApp, CLIENT_AUDIENCE, CLIENT_VERIFY_URL, form, registerAndLogin, STORE_MODES } from '../helper.js'

/** No settings at all: with --url the CLIs read none (a DATA_DIR here would be another store). */
const NO_SETTINGS = {}

for (const mode of STORE_MODES) {
  test(`clients and users CLIs through the admin API (${mode})`, async (t) => {
    const { app, managementUrl, tokenFile, lines } = await buildAdminApp(t, mode, {}, { listen: true })
    const remote = ['--url', managementUrl, '--token-file', tokenFile]
    const clients = (...args: string[]) => runCommand(runClients, NO_SETTINGS, [...args, ...remote])
    const users = (...args: string[]) => runCommand(runUsers, NO_SETTINGS, [...args, ...remote])

    const created = await clients('create', 'reports', '--scope', 'a b', '--audience', CLIENT_AUDIENCE, '--allow', 'introspect')
    t.equal(created.status, 0, created.stderr)
    t.match(created.stderr, `clients: the admin API at ${managementUrl}`)
    const { client_secret: secret, ...view } = JSON.parse(created.stdout)
    t.match(view, { client_id: 'reports', scope: 'a b', audiences: [CLIENT_AUDIENCE], privileges: ['introspect'], auth_method: 'client_secret' })
    const token = (await app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('reports', secret)))).json().access_token as string
    t.type(token, 'string', 'the client it made gets tokens')

    t.same(JSON.parse((await clients('list')).stdout), [view], 'list prints what the local command prints')
    t.same(JSON.parse((await clients('show', 'reports')).stdout), view)
    t.match(JSON.parse((await clients('update', 'reports', '--scope', 'c')).stdout), { scope: 'c', audiences: [CLIENT_AUDIENCE] })
    const rotated = await clients('rotate-secret', 'reports')
    t.match(JSON.parse(rotated.stdout), { client_id: 'reports', client_secret: String })
    assertError(t, await app.inject({ url: CLIENT_VERIFY_URL, headers: bearer(token) }), 401, 'TOKEN_REVOKED')

    const federated = await clients('create', 'batch', '--audience', CLIENT_AUDIENCE, '--federated-issuer', 'https://oidc.cluster.example', '--federated-subject', 'system:serviceaccount:batch:default')
    t.equal(federated.status, 0, federated.stderr)
    t.match(federated.stderr, /warning: .*default service account/, 'the warning goes to stderr')
    t.notOk('warnings' in JSON.parse(federated.stdout), 'and not into the JSON')

    // The same refusals, with the same exit codes.
    const refusals: [string, string[], number, RegExp][] = [
      ['an existing id', ['create', 'reports'], 2, /exists/],
      ['an unknown client', ['show', 'ghost'], 2, /no client ghost/],
      ['rotate-secret of an unknown client', ['rotate-secret', 'ghost'], 2, /no client ghost/],
      ['DEFAULT_AUDIENCE', ['update', 'reports', '--audience', 'http://auth.test'], 2, /DEFAULT_AUDIENCE/],
      ['a client without a secret', ['rotate-secret', 'batch'], 2, /no secret to rotate/],
      ['a bad id, before any call', ['show', 'a b'], 2, /client_id/]
    ]
    for (const [description, args, status, message] of refusals) {
      const result = await clients(...args)
      t.equal(result.status, status, description)
      t.match(result.stderr, message, description)
      t.equal(result.stdout, '', `${description}: nothing on stdout`)
    }

    const deleted = await clients('delete', 'reports')
    t.same(JSON.parse(deleted.stdout), { client_id: 'reports', deleted: true })

    const ada = await registerAndLogin(app)
    const shown = await users('show', ada.email)
    t.equal(shown.status, 0, shown.stderr)
    const id = JSON.parse(shown.stdout).id as string
    t.match(JSON.parse((await users('disable', id)).stdout), { id, disabled_at: String })
    assertError(t, await app.inject({ url: '/api/user', headers: bearer(ada.token) }), 401, 'TOKEN_REVOKED')
    t.match(JSON.parse((await users('enable', ada.email)).stdout), { id, disabled_at: null })
    t.same(JSON.parse((await users('delete', id)).stdout), { id, email: ada.email, deleted: true })
    const gone = await users('show', id)
    t.equal(gone.status, 2)
    t.match(gone.stderr, /no account/)

    const audited = lines.map((line) => JSON.parse(line).audit?.event as string | undefined)
    for (const operation of ['clients.create', 'clients.list', 'clients.update', 'clients.rotate-secret', 'clients.delete', 'users.disable', 'users.delete']) {
      t.ok(audited.includes(`admin.${operation}`), `the CLI's ${operation} left an audit line`)
    }
  })
}

test('the CLIs with --url: a wrong token, the public port, an unreachable URL, a missing half', async (t) => {
  const { app, managementUrl, tokenFile, env } = await buildAdminApp(t, 'embedded', {}, { listen: true })
  const wrongFile = join(env.DATA_DIR!, 'wrong-token')
  writeFileSync(wrongFile, 'x'.repeat(43))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const publicUrl = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`

  const cases: [string, string[], number, RegExp][] = [
    ['a wrong token', ['list', '--url', managementUrl, '--token-file', wrongFile], 1, /refused the token in .*wrong-token/],
    ['the public port', ['list', '--url', publicUrl, '--token-file', tokenFile], 1, /serves no admin API: --url is the management port/],
    ['nobody listening', ['list', '--url', 'http://127.0.0.1:1', '--token-file', tokenFile], 1, /did not answer/],
    ['a missing token file', ['list', '--url', managementUrl, '--token-file', join(env.DATA_DIR!, 'absent')], 2, /cannot read --token-file/],
    ['--url without --token-file', ['list', '--url', managementUrl], 2, /--url and --token-file go together/],
    ['a URL that is none', ['list', '--url', 'management', '--token-file', tokenFile], 2, /not an absolute URL/]
  ]
  for (const [description, args, status, message] of cases) {
    for (const [name, run] of [['clients', runClients], ['users', runUsers]] as const) {
      const commandArgs = name === 'users' ? ['show', 'a@b.example', ...args.slice(1)] : args
      const result = await runCommand(run, {}, commandArgs)
      t.equal(result.status, status, `${name}: ${description}`)
      t.match(result.stderr, message, `${name}: ${description}`)
      t.notMatch(result.stderr, /\n\s+at /, 'no stack trace')
      t.equal(result.stdout, '')
    }
  }
})
