import { test } from 'tap'
import { buildTestApp, STORE_MODES } from '../helper.js'

for (const mode of STORE_MODES) {
  test(`health (${mode})`, async (t) => {
    const app = await buildTestApp(t, mode)
    const live = await app.inject({ url: '/health/live' })
    t.equal(live.statusCode, 200)
    t.same(live.json(), { status: 'ok' })
    const ready = await app.inject({ url: '/health/ready' })
    t.equal(ready.statusCode, 200)
    t.same(ready.json(), { status: 'ok', checks: { users: 'ok', clients: 'ok', revocations: 'ok' } })
  })
}
