import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { test } from 'tap'
import app, { serverOptions } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { loggerOptions } from '../../src/logger.js'
import { assertError, basic, bearer, createClient, form, logLines, storeEnv } from '../helper.js'
import { OwnRedis } from '../services.js'

/** The app with the process's own logger settings, writing into `lines`. */
async function appWithLogs(t: Parameters<typeof storeEnv>[0], env: Record<string, string>) {
  const { stream, lines } = logLines()
  const config = loadConfig({ ...env, LOG_LEVEL: 'info' })
  const fastify = Fastify({ ...serverOptions(config), ...loggerOptions(config, stream) })
  t.teardown(() => fastify.close())
  await fastify.register(fp(app), { config })
  await fastify.ready()
  return { app: fastify, lines }
}

test('a full walk-through logs its security events and no secret', async (t) => {
  const redis = await OwnRedis.start(t)
  const { app, lines } = await appWithLogs(t, await storeEnv(t, 'redis-postgres', { REDIS_URL: redis.url, REFRESH_GRACE: '0', REDIS_COMMAND_TIMEOUT_MS: '300' }))
  const password = 'a very secret passphrase'
  const secrets: string[] = [password]
  await app.inject({ method: 'POST', url: '/api/register', payload: { name: 'Log', email: 'log@example.com', password, password_confirmation: password } })
  await app.inject({ method: 'POST', url: '/api/login', payload: { email: 'log@example.com', password: 'wrong password!' } })
  const token = (await app.inject({ method: 'POST', url: '/api/login', payload: { email: 'log@example.com', password } })).json().access_token as string
  const child = (await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) })).json().access_token as string
  await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) }) // reuse: revokes the session
  const again = (await app.inject({ method: 'POST', url: '/api/login', payload: { email: 'log@example.com', password } })).json().access_token as string
  await app.inject({ method: 'PUT', url: '/api/user/password', headers: bearer(again), payload: { current_password: password, password: 'the next passphrase', password_confirmation: 'the next passphrase' } })
  await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(again) })
  const clientSecret = await createClient(app, 'auditor', ['audit:read'])
  const clientToken = (await app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('auditor', clientSecret)))).json().access_token as string
  await app.inject(form('/oauth/introspect', { token: clientToken }, basic('auditor', clientSecret)))
  await app.inject(form('/oauth/revoke', { token: clientToken }, basic('auditor', clientSecret)))
  await app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('auditor', 'wrong secret')))
  await redis.stop()
  assertError(t, await app.inject({ url: '/api/user', headers: bearer(child) }), 503, 'STORE_UNAVAILABLE')
  // The rate-limit counters live in Redis too.
  assertError(t, await app.inject({ method: 'POST', url: '/api/login', payload: { email: 'log@example.com', password } }), 503, 'STORE_UNAVAILABLE')
  secrets.push(token, child, again, clientToken, clientSecret, 'the next passphrase', 'wrong secret', 'wrong password!')

  const text = lines.join('\n')
  for (const secret of secrets) t.notOk(text.includes(secret), `no ${secret.slice(0, 12)}… in the logs`)
  t.notMatch(text, /\$argon2/, 'no password hash')
  t.notMatch(text, /Bearer |Basic /, 'no Authorization header')

  const audits = lines.map((line) => JSON.parse(line) as { audit?: Record<string, string>; reqId?: string }).filter((entry) => entry.audit !== undefined)
  const events = audits.map((entry) => entry.audit!.event)
  for (const event of ['login.failure', 'login.success', 'token.refreshed', 'token.reuse_detected', 'password.changed', 'session.logout', 'client.token_issued', 'token.revoked', 'client.auth_failed']) {
    t.ok(events.includes(event), `audit line for ${event}`)
  }
  const success = audits.find((entry) => entry.audit!.event === 'login.success')!
  t.match(success, { reqId: /^[0-9a-f-]{36}$/, audit: { user_id: String, session_id: String, ip: '127.0.0.1' } })
  t.match(audits.find((entry) => entry.audit!.event === 'client.token_issued'), { audit: { client_id: 'auditor', scope: 'audit:read' } })

  const metrics = (await app.inject({ url: '/metrics' })).body
  for (const line of [
    /jwt_auth_logins_total\{outcome="success"\} 2/,
    /jwt_auth_logins_total\{outcome="failure"\} 1/,
    /jwt_auth_refreshes_total\{outcome="rotated"\} 1/,
    /jwt_auth_refreshes_total\{outcome="reused"\} 1/,
    /jwt_auth_reuse_detections_total 1/,
    /jwt_auth_revocations_total\{kind="logout"\} 1/,
    /jwt_auth_revocations_total\{kind="password_change"\} 1/,
    /jwt_auth_revocations_total\{kind="token"\} 1/,
    /jwt_auth_client_tokens_total 1/,
    /jwt_auth_store_errors_total\{store="revocation"\} 1/,
    /jwt_auth_store_errors_total\{store="rate_limit"\} 1/,
    /jwt_auth_client_auth_failures_total 1/,
    // Node's default metrics under their stock names, which ready-made dashboards query.
    /^process_cpu_seconds_total \d/m,
    /^nodejs_eventloop_lag_seconds \d/m,
    /jwt_auth_http_request_duration_seconds_bucket\{le="[^"]+",method="POST",route="\/api\/login",status_code="200"\}/
  ]) {
    t.match(metrics, line, String(line))
  }
  t.notMatch(metrics, /jwt_auth_(process|nodejs)_/, 'no service prefix on the default metrics')
  t.notMatch(metrics, /="[^"]* [^"]*"/, 'no label value with a space')
})

test('the reason of a 401 is on the request\'s log line, the token is not', async (t) => {
  const { app, lines } = await appWithLogs(t, await storeEnv(t, 'embedded'))
  const password = 'a very secret passphrase'
  await app.inject({ method: 'POST', url: '/api/register', payload: { name: 'Log', email: 'code@example.com', password, password_confirmation: password } })
  const token = (await app.inject({ method: 'POST', url: '/api/login', payload: { email: 'code@example.com', password } })).json().access_token as string
  await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(token) })
  assertError(t, await app.inject({ url: '/api/user', headers: bearer(token) }), 401, 'TOKEN_REVOKED')
  assertError(t, await app.inject({ url: '/api/user' }), 401, 'TOKEN_MISSING')
  await createClient(app, 'reporter', ['reports:read'])
  t.equal((await app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('reporter', 'wrong secret')))).statusCode, 401)

  const completed = lines.map((line) => JSON.parse(line) as { msg: string; code?: string; res?: { statusCode: number } }).filter((entry) => entry.msg === 'request completed')
  t.same(completed.filter((entry) => entry.res?.statusCode === 401).map((entry) => entry.code), ['TOKEN_REVOKED', 'TOKEN_MISSING', 'invalid_client'])
  t.notOk(completed.some((entry) => entry.res?.statusCode === 200 && 'code' in entry), 'a success carries no code')
  t.notOk(lines.join('\n').includes(token), 'the token is not logged')
})

test('safe defaults: security headers, no X-Powered-By, 404 in the error shape', async (t) => {
  const { app } = await appWithLogs(t, await storeEnv(t, 'embedded'))
  const response = await app.inject({ url: '/health/live' })
  t.equal(response.headers['x-content-type-options'], 'nosniff')
  t.equal(response.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'")
  t.notOk('x-powered-by' in response.headers)
  assertError(t, await app.inject({ url: '/no/such/route' }), 404, 'NOT_FOUND')
  assertError(t, await app.inject({ method: 'DELETE', url: '/api/login' }), 404, 'NOT_FOUND')
})

test('request loggers are made lazily, and still write what their level lets through, with the request id', async (t) => {
  const { stream, lines } = logLines()
  const config = loadConfig({ ...(await storeEnv(t, 'embedded')), LOG_LEVEL: 'warn' })
  const options = loggerOptions(config, stream)
  const fastify = Fastify({ ...serverOptions(config), ...options })
  t.teardown(() => fastify.close())
  let made = 0
  const parentChild = fastify.log.child.bind(fastify.log)
  fastify.log.child = ((...args: Parameters<typeof parentChild>) => {
    made++
    return parentChild(...args)
  }) as typeof fastify.log.child
  fastify.get('/quiet', async (request) => {
    request.log.info('below the level')
    return { ok: true }
  })
  fastify.get('/loud', async (request) => {
    request.log.warn({ detail: 1 }, 'worth a line')
    return { ok: true }
  })
  await fastify.ready()
  await fastify.inject({ url: '/quiet', headers: { 'x-request-id': 'ignored' } })
  t.equal(made, 0, 'a request that writes nothing makes no child logger')
  t.equal(lines.length, 0, 'nothing below LOG_LEVEL is written')
  await fastify.inject({ url: '/loud' })
  t.equal(made, 1, 'the first line makes it')
  const line = JSON.parse(lines.at(-1)!) as Record<string, unknown>
  t.match(line, { level: 40, msg: 'worth a line', detail: 1, reqId: /^[0-9a-f-]{36}$/ }, 'with the request id binding')
})
