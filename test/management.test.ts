import { test } from 'tap'
import { freePort, sleep } from './helper.js'
import { startServer } from './process.js'

test('MANAGEMENT_PORT: metrics and probes answer there, and not on the public port', async (t) => {
  const [port, management] = [await freePort(), await freePort()]
  const { child, exited } = await startServer(t, { PORT: String(port), MANAGEMENT_PORT: String(management), SHUTDOWN_DRAIN_SECONDS: '1' })
  const publicUrl = `http://127.0.0.1:${port}`
  const managementUrl = `http://127.0.0.1:${management}`

  const metrics = await fetch(`${managementUrl}/metrics`)
  t.equal(metrics.status, 200)
  t.match(metrics.headers.get('content-type'), /^text\/plain/)
  t.match(await metrics.text(), /^process_cpu_seconds_total /m)
  t.equal((await fetch(`${managementUrl}/health/live`)).status, 200)
  const ready = await fetch(`${managementUrl}/health/ready`)
  t.equal(ready.status, 200)
  t.match(await ready.json(), { status: 'ok', checks: { users: 'ok', clients: 'ok', revocations: 'ok' } })

  for (const path of ['/metrics', '/health/live', '/health/ready']) {
    const response = await fetch(`${publicUrl}${path}`)
    t.equal(response.status, 404, `public ${path}: 404`)
    t.match(await response.json(), { statusCode: 404, error: 'Not Found', code: 'NOT_FOUND' }, `public ${path}: the error shape`)
  }
  t.equal((await fetch(`${publicUrl}/.well-known/jwks.json`)).status, 200, 'the public port serves the service')
  const api = await fetch(`${managementUrl}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal(api.status, 404, 'the management port serves no API')
  t.match(await api.json(), { code: 'NOT_FOUND' })

  // A request on the public port shows up in the metrics of the management port: one registry.
  t.match(await (await fetch(`${managementUrl}/metrics`)).text(), /jwt_auth_http_request_duration_seconds_count\{method="GET",route="\/.well-known\/jwks.json",status_code="200"\} 1/)

  child.kill('SIGTERM')
  // Waits for the process to handle its signal; it drains for a second meanwhile.
  await sleep(200)
  const draining = await fetch(`${managementUrl}/health/ready`)
  t.equal(draining.status, 503, 'readiness on the management port turns 503 on SIGTERM')
  t.match(await draining.json(), { status: 'draining' })
  t.equal(await exited, 0, 'both listeners close, a clean exit')
})
