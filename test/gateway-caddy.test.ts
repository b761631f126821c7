import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'tap'
import { basic, bearer, createClient, form, registerAndLogin, until } from './helper.js'
import { boundTokenThroughGateway } from './dpop-client.js'
import { gatewayBackends } from './services.js'

const CADDYFILE = join(import.meta.dirname, '..', 'examples', 'caddy', 'Caddyfile')
const CADDY = process.env.CADDY_BIN ?? 'caddy'

test('a real Caddy with forward_auth in front of an API (examples/caddy)', async (t) => {
  const { app, authPort, apiPort, gatewayPort } = await gatewayBackends(t)

  // The shipped configuration, on free ports; Caddy's own state in a directory of the test's.
  const home = mkdtempSync(join(tmpdir(), 'caddy-test-'))
  t.teardown(() => rmSync(home, { recursive: true, force: true }))
  const config = join(home, 'Caddyfile')
  writeFileSync(
    config,
    readFileSync(CADDYFILE, 'utf8')
      .replaceAll('127.0.0.1:3000', `127.0.0.1:${authPort}`)
      .replaceAll('127.0.0.1:8080', `127.0.0.1:${apiPort}`)
      .replaceAll('127.0.0.1:8000', `127.0.0.1:${gatewayPort}`)
  )
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: home, XDG_DATA_HOME: home }
  const check = spawnSync(CADDY, ['validate', '--adapter', 'caddyfile', '--config', config], { encoding: 'utf8', env })
  t.equal(check.status, 0, `caddy validate accepts the example: ${check.stderr.slice(-500)}`)
  const caddy = spawn(CADDY, ['run', '--adapter', 'caddyfile', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'], env })
  caddy.stderr.resume()
  t.teardown(() => {
    caddy.kill('SIGTERM')
  })
  const gateway = `http://127.0.0.1:${gatewayPort}`
  await until('caddy to listen', async () => fetch(`${gateway}/`).then(() => true, () => false))

  const through = (path: string, token?: string, headers: Record<string, string> = {}) =>
    fetch(`${gateway}${path}`, { headers: { ...headers, ...(token === undefined ? {} : bearer(token)) } })

  const anonymous = await through('/anything')
  t.equal(anonymous.status, 401, 'no token: stopped at the gateway')
  t.match(anonymous.headers.get('www-authenticate'), /^Bearer realm=/, "the service's challenge reaches the caller")

  const { token } = await registerAndLogin(app)
  const passed = await through('/profile', token)
  t.equal(passed.status, 200, 'a valid token reaches the API')
  t.match(await passed.json(), { path: '/profile', subject: /^[0-9a-f-]{36}$/, session: /.+/ })

  const forged = await through('/profile', token, { 'x-auth-subject': 'admin', 'x-auth-client': 'root', 'x-auth-scope': 'admin', 'x-auth-actor': 'root' })
  const forgedSeen = (await forged.json()) as Record<string, string>
  t.not(forgedSeen.subject, 'admin', 'a caller cannot set X-Auth-Subject itself')
  t.notOk(forgedSeen.client, 'nor X-Auth-Client, which a user token does not have')
  t.notOk(forgedSeen.scope, 'nor X-Auth-Scope')
  t.notOk(forgedSeen.actor, 'nor X-Auth-Actor')

  const child = (await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) })).json().access_token as string
  t.equal((await through('/profile', token)).status, 401, 'a rotated token is stopped at the gateway')
  t.equal((await through('/profile', child)).status, 200, 'its child passes')
  t.equal((await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(child) })).statusCode, 200)
  const revoked = await through('/profile', child)
  t.equal(revoked.status, 401, 'a logged-out token is stopped at once')
  t.match(revoked.headers.get('www-authenticate'), /error="invalid_token"/)

  const secret = await createClient(app, 'shop', ['orders:read', 'cart:write'], { audiences: ['https://orders.internal'] })
  const tokenFor = async (scope: string) => (await app.inject(form('/oauth/token', { grant_type: 'client_credentials', scope }, basic('shop', secret)))).json().access_token as string
  const reader = await through('/orders/42', await tokenFor('orders:read'))
  t.equal(reader.status, 200, 'a client token for the orders audience, with the scope')
  t.match(await reader.json(), { path: '/orders/42', subject: 'shop', client: 'shop', scope: 'orders:read' })
  t.equal((await through('/orders/42', await tokenFor('cart:write'))).status, 403, 'a route scope the token lacks: 403')
  t.equal((await through('/profile', await tokenFor('orders:read'))).status, 401, 'a client token on a route for user tokens: 401')
  t.equal((await through('/orders/42', child)).status, 401, 'a user token on the orders route (another audience): 401')

  await boundTokenThroughGateway(t, app, gateway, { nonceOnAnswers: false })
})
