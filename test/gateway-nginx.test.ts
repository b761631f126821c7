import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'tap'
import { basic, bearer, createClient, form, registerAndLogin, until } from './helper.js'
import { boundTokenThroughGateway } from './dpop-client.js'
import { gatewayBackends } from './services.js'

const EXAMPLE = join(import.meta.dirname, '..', 'examples', 'nginx')
// Debian installs it in /usr/sbin, which is not on every PATH.
const NGINX = process.env.NGINX_BIN ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx')

test('a real nginx with auth_request in front of an API (examples/nginx)', async (t) => {
  const { app, authPort, apiPort, gatewayPort } = await gatewayBackends(t)

  // The shipped configuration, on free ports.
  const prefix = mkdtempSync(join(tmpdir(), 'nginx-test-'))
  chmodSync(prefix, 0o755)
  t.teardown(() => rmSync(prefix, { recursive: true, force: true }))
  for (const dir of ['tmp/client_body', 'tmp/proxy']) mkdirSync(join(prefix, dir), { recursive: true, mode: 0o777 })
  for (const file of readdirSync(EXAMPLE)) {
    const text = readFileSync(join(EXAMPLE, file), 'utf8')
      .replaceAll('127.0.0.1:3000', `127.0.0.1:${authPort}`)
      .replaceAll('127.0.0.1:8080', `127.0.0.1:${apiPort}`)
      .replaceAll('127.0.0.1:8000', `127.0.0.1:${gatewayPort}`)
    writeFileSync(join(prefix, file), text)
  }
  const check = spawnSync(NGINX, ['-t', '-p', prefix, '-c', join(prefix, 'nginx.conf')], { encoding: 'utf8' })
  t.equal(check.status, 0, `nginx -t accepts the example: ${check.stderr}`)
  const nginx = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] })
  t.teardown(() => {
    nginx.kill('SIGQUIT')
  })
  const gateway = `http://127.0.0.1:${gatewayPort}`
  await until('nginx to listen', async () => fetch(`${gateway}/`).then(() => true, () => false))

  const through = (path: string, token?: string) => fetch(`${gateway}${path}`, { headers: token === undefined ? {} : bearer(token) })

  const anonymous = await through('/anything')
  t.equal(anonymous.status, 401, 'no token: stopped at the gateway')
  t.match(anonymous.headers.get('www-authenticate'), /^Bearer realm=/)

  const { token } = await registerAndLogin(app)
  const passed = await through('/profile', token)
  t.equal(passed.status, 200, 'a valid token reaches the API')
  const seen = (await passed.json()) as Record<string, string>
  t.match(seen, { path: '/profile', subject: /^[0-9a-f-]{36}$/, session: /.+/ })
  t.notOk(seen.client, 'a user token has no client (nginx drops empty headers)')

  const forged = await fetch(`${gateway}/profile`, { headers: { ...bearer(token), 'x-auth-subject': 'admin', 'x-auth-client': 'root', 'x-auth-actor': 'root' } })
  const forgedSeen = (await forged.json()) as Record<string, string>
  t.not(forgedSeen.subject, 'admin', 'a caller cannot set X-Auth-Subject itself')
  t.notOk(forgedSeen.client, 'nor X-Auth-Client, even where the token has none')
  t.notOk(forgedSeen.actor, 'nor X-Auth-Actor')

  const child = (await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) })).json().access_token as string
  const rotated = await through('/profile', token)
  t.equal(rotated.status, 401, 'a rotated token is stopped at the gateway')
  t.match(rotated.headers.get('www-authenticate'), /error="invalid_token"/)
  t.equal((await through('/profile', child)).status, 200, 'its child passes')
  await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(child) })
  t.equal((await through('/profile', child)).status, 401, 'a logged-out token is stopped at once')

  const secret = await createClient(app, 'shop', ['orders:read', 'cart:write'], { audiences: ['https://orders.internal'] })
  const tokenFor = async (scope: string) => (await app.inject(form('/oauth/token', { grant_type: 'client_credentials', scope }, basic('shop', secret)))).json().access_token as string
  const reader = await through('/orders/42', await tokenFor('orders:read'))
  t.equal(reader.status, 200)
  t.match(await reader.json(), { client: 'shop', scope: 'orders:read' })
  t.equal((await through('/profile', await tokenFor('orders:read'))).status, 401, 'a client token on a route for user tokens (DEFAULT_AUDIENCE): 401')
  t.equal((await through('/orders/42', await tokenFor('cart:write'))).status, 403, 'a route scope the token lacks: 403')

  await boundTokenThroughGateway(t, app, gateway, { nonceOnAnswers: true })
})
