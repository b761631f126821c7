import { test } from 'tap'
import { freePort, ServiceProcess } from '../../scripts/nemesis/processes.js'
import { sleep, storeEnv, type Env, type TestContext } from '../helper.js'
import { OwnRedis } from '../services.js'

/**
 * An instance paused (SIGSTOP: a GC pause, CPU throttling, a VM stall) while a token is logged out at
 * another instance must refuse that token once it runs again: its replica cannot vouch for a moment it
 * slept through. Each trial sends requests while it is paused and right after it resumes, all of them
 * later than REVOCATION_MAX_LAG_MS after the logout's answer, and none may be accepted.
 */
const MAX_LAG_MS = 250
const TRIALS = 10

interface Sent {
  sentAt: number
  status: number
}

async function instances(t: TestContext, prefix: string | undefined): Promise<{ paused: ServiceProcess; other: ServiceProcess }> {
  const redis = await OwnRedis.start(t)
  const env: Env = { ...(await storeEnv(t, 'redis-postgres')), REDIS_URL: redis.url, REVOCATION_MAX_LAG_MS: String(MAX_LAG_MS), LOG_LEVEL: 'warn' }
  if (prefix === undefined) delete env.REDIS_KEY_PREFIX
  else env.REDIS_KEY_PREFIX = prefix
  const paused = new ServiceProcess('replicated', await freePort(), { ...env, REVOCATION_CHECK: 'replicated' })
  const other = new ServiceProcess('strict', await freePort(), env)
  for (const instance of [paused, other]) t.teardown(() => instance.remove())
  await Promise.all([paused.start(), other.start()])
  return { paused, other }
}

async function json(url: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, init)
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

const post = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

for (const prefix of [undefined, 'pauses:']) {
  test(`a paused replicated instance never accepts a token revoked during its pause (REDIS_KEY_PREFIX ${prefix ?? 'by default'})`, async (t) => {
    const { paused, other } = await instances(t, prefix)
    const email = `paused.${Date.now()}@example.com`
    const password = 'correct horse battery'
    t.equal((await json(`${other.url}/api/register`, post({ name: 'Paused', email, password, password_confirmation: password }))).status, 201)
    const verify = (token: string): Promise<Sent> => {
      const sentAt = performance.now()
      return fetch(`${paused.url}/auth/verify`, { headers: { authorization: `Bearer ${token}` } }).then(
        (response) => ({ sentAt, status: response.status }),
        () => ({ sentAt, status: 0 })
      )
    }

    const late: Sent[] = []
    for (let trial = 0; trial < TRIALS; trial++) {
      const token = (await json(`${other.url}/api/login`, post({ email, password }))).body.access_token as string
      for (let attempt = 0; (await verify(token)).status !== 200; attempt++) {
        if (attempt > 100) throw new Error('the replicated instance never accepted the fresh token')
        // Sleeps here wait for real processes: another instance's feed to bring the login, then the
        // lengths of a real SIGSTOP pause (a Redis or an instance frozen while the logout happens).
        await sleep(20)
      }
      paused.pause()
      try {
        await sleep(100 + trial * 20)
        t.equal((await json(`${other.url}/api/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status, 200)
        const loggedOutAt = performance.now()
        // Past the bound while it sleeps: these are answered only after it wakes.
        await sleep(MAX_LAG_MS + 50)
        const queued = Array.from({ length: 5 }, () => verify(token))
        await sleep(200)
        paused.resume()
        const after: Promise<Sent>[] = [...queued]
        for (const until = performance.now() + 400; performance.now() < until; ) {
          const batch = Array.from({ length: 4 }, () => verify(token))
          after.push(...batch)
          await Promise.all(batch)
        }
        for (const sent of await Promise.all(after)) if (sent.sentAt > loggedOutAt + MAX_LAG_MS) late.push(sent)
      } finally {
        paused.resume()
      }
    }
    const accepted = late.filter(({ status }) => status === 200)
    t.ok(late.length > TRIALS * 10, `${late.length} requests sent later than ${MAX_LAG_MS} ms after the logout, over ${TRIALS} pauses`)
    t.equal(accepted.length, 0, 'none of them accepted the revoked token')
    t.same([...new Set(late.map(({ status }) => status))].filter((status) => status !== 401 && status !== 503), [], 'every one 401, or 503 while it could not check')
  })
}
