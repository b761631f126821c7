/** npm run users: show, disable, enable and delete accounts by email; disabling and deleting end every session at once. */
import { test } from 'tap'
import { runUsers } from '../../scripts/users/command.js'
import { runCommand, spawnCommand } from '../cli.js'
import { assertError, bearer, buildApp, freePort, login, registerAndLogin, storeEnv, STORE_MODES, type Env } from '../helper.js'

const users = (env: Env, ...args: string[]) => runCommand(runUsers, env, args)

for (const mode of STORE_MODES) {
  test(`npm run users: show, disable, enable, delete (${mode})`, async (t) => {
    const env = await storeEnv(t, mode)
    const [a, b] = [await buildApp(t, env), await buildApp(t, env)]
    const account = await registerAndLogin(a)
    const onB = (await login(b, account.email, account.password)).access_token
    const tryLogin = (instance: typeof a) => instance.inject({ method: 'POST', url: '/api/login', payload: { email: account.email, password: account.password } })

    const shown = await users(env, 'show', account.email.toUpperCase())
    t.equal(shown.status, 0, shown.stderr)
    const view = JSON.parse(shown.stdout)
    t.same(Object.keys(view).sort(), ['created_at', 'disabled_at', 'email', 'email_verified_at', 'id', 'name', 'updated_at'], 'never a hash')
    t.match(view, { email: account.email, disabled_at: null, email_verified_at: null })
    t.match(shown.stderr, /^users store: /)

    const disabled = await users(env, 'disable', account.email)
    t.equal(disabled.status, 0, disabled.stderr)
    t.match(JSON.parse(disabled.stdout), { email: account.email, disabled_at: String })
    for (const [instance, token] of [[a, account.token], [b, onB]] as const) {
      assertError(t, await instance.inject({ url: '/api/user', headers: bearer(token) }), 401, 'TOKEN_REVOKED')
    }
    assertError(t, await tryLogin(b), 403, 'ACCOUNT_DISABLED')
    const wrong = await a.inject({ method: 'POST', url: '/api/login', payload: { email: account.email, password: 'not the password' } })
    assertError(t, wrong, 401, 'INVALID_CREDENTIALS')
    t.equal((await users(env, 'disable', account.email)).status, 0, 'disabling twice is harmless')

    const enabled = await users(env, 'enable', account.email)
    t.equal(enabled.status, 0, enabled.stderr)
    t.match(JSON.parse(enabled.stdout), { disabled_at: null })
    t.equal((await tryLogin(a)).statusCode, 200, 'enabled: it logs in again')
    assertError(t, await a.inject({ url: '/api/user', headers: bearer(account.token) }), 401, 'TOKEN_REVOKED')

    const fresh = (await login(a, account.email, account.password)).access_token
    const deleted = await users(env, 'delete', account.email)
    t.equal(deleted.status, 0, deleted.stderr)
    t.match(JSON.parse(deleted.stdout), { email: account.email, deleted: true })
    assertError(t, await b.inject({ url: '/api/user', headers: bearer(fresh) }), 401, 'TOKEN_REVOKED')
    assertError(t, await tryLogin(a), 401, 'INVALID_CREDENTIALS')
    const gone = await users(env, 'show', account.email)
    t.equal(gone.status, 2)
    t.equal(gone.stderr.trim().split('\n').at(-1), `no account ${account.email}`)
  })
}

test('npm run users: usage errors exit 2 before any setting is read or any store opened', async (t) => {
  // Settings no store could work with: a bad command line must be refused without reaching them.
  const unusable: Env = { DATABASE_URL: `postgres://nobody@127.0.0.1:${await freePort()}/none`, PORT: 'not a port' }
  const cases: [string, string[], RegExp][] = [
    ['no command', [], /no command/],
    ['an unknown command', ['promote', 'a@example.com'], /unknown command "promote"/],
    ['no email', ['disable'], /disable needs an email address/],
    ['not an email', ['show', 'alice'], /show needs an email address/],
    ['two emails', ['delete', 'a@example.com', 'b@example.com'], /takes one email/],
    ['an unknown option', ['show', 'a@example.com', '--force'], /Unknown option '--force'/]
  ]
  for (const [name, args, message] of cases) {
    const result = await users(unusable, ...args)
    t.equal(result.status, 2, name)
    t.match(result.stderr, message, name)
    t.match(result.stderr, /usage: npm run -s users/, `${name}: the usage follows`)
    t.equal(result.stdout, '', `${name}: nothing on stdout`)
  }
  const help = spawnCommand('users', unusable, ['--help'])
  t.equal(help.status, 0, 'the built CLI prints its help')
  t.match(help.stdout, /disable <email or id>/)
  t.match(help.stdout, /--url <management URL> --token-file <path>/, "the admin API route is documented")
  const unknown = await users(await storeEnv(t, 'embedded'), 'show', 'nobody@example.com')
  t.equal(unknown.status, 2, 'an unknown account: 2')
})
