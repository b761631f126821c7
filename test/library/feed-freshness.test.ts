import { spawn } from 'node:child_process'
import { Redis } from 'ioredis'
import { test } from 'tap'
import { freePort, ServiceProcess } from '../../scripts/nemesis/processes.js'
import { createVerifier, VerificationError, type TokenVerifier, type VerifierOptions } from '@jwt-auth-service/verifier'
import { feedLayout } from '@jwt-auth-service/verifier/feed'
import { buildApp, createClient, sleep, storeEnv, until, type Env, type TestContext } from '../helper.js'
import { OwnRedis } from '../services.js'

/**
 * When the library may call itself fresh: never on a feed it cannot find, and again soon after a slow
 * start, or on a busy machine, once the service behind its feed is fresh itself.
 */
const MAX_LAG_MS = 250

function library(t: TestContext, options: Omit<VerifierOptions, 'issuer' | 'audience' | 'accept'>): TokenVerifier {
  const verifier = createVerifier({ issuer: 'http://auth.test', audience: 'http://auth.test', accept: ['user'], maxLagMs: MAX_LAG_MS, ...options })
  t.teardown(() => verifier.close())
  return verifier
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'accepted',
    (error: unknown) => (error instanceof VerificationError ? error.code : String(error))
  )
}

test('a library pointed at a key prefix with no feed fails closed, names the prefix, and begins no generation', async (t) => {
  const redis = await OwnRedis.start(t)
  const env = await storeEnv(t, 'redis-postgres', { REDIS_URL: redis.url })
  delete env.REDIS_KEY_PREFIX // the service on its default prefix, jwt:
  const app = await buildApp(t, env)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const errors: string[] = []
  const misconfigured = library(t, { jwksUri: `${url}/.well-known/jwks.json`, feed: { redisUrl: redis.url, keyPrefix: '' }, onError: (error) => errors.push(error.message) })

  const email = `prefix.${Date.now()}@example.com`
  const password = 'correct horse battery'
  await app.inject({ method: 'POST', url: '/api/register', payload: { name: 'Prefix', email, password, password_confirmation: password } })
  const token = (await app.inject({ method: 'POST', url: '/api/login', payload: { email, password } })).json().access_token as string
  await app.inject({ method: 'POST', url: '/api/logout', headers: { authorization: `Bearer ${token}` } })

  await t.rejects(misconfigured.ready(1_000), { code: 'FEED_STALE' }, 'never fresh')
  t.equal(await codeOf(misconfigured.verify(token)), 'FEED_STALE', 'the revoked token is refused: 503, not a pass')
  t.ok(errors.some((message) => message.includes('no revocation feed under the key prefix ""')), `the error names the prefix: ${errors[0]}`)
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  const { stream, generation, cursorKey } = feedLayout(false)
  t.equal(await admin.exists(stream(0), generation(0), cursorKey), 0, 'no generation or feed was made under the empty prefix')
  t.equal(await admin.exists(`jwt:${generation(0)}`), 1, 'the service\'s own generation is under jwt:')
})

/** The service in a process of its own (it can be paused), with a client for the HTTP feed. */
async function feedService(t: TestContext): Promise<{ service: ServiceProcess; secret: string; env: Env }> {
  const env: Env = { ...(await storeEnv(t, 'redis-postgres')), REVOCATION_MAX_LAG_MS: String(MAX_LAG_MS), LOG_LEVEL: 'warn' }
  const admin = await buildApp(t, env)
  const secret = await createClient(admin, 'fresh-reader', ['read'], { privileges: ['revocations'] })
  const service = new ServiceProcess('feed service', await freePort(), env)
  t.teardown(() => service.remove())
  await service.start()
  return { service, secret, env }
}

test('over HTTP, a slow start costs its own duration, not the connection\'s life', async (t) => {
  const { service, secret } = await feedService(t)
  // The service stalls 400 ms just as the subscription arrives (a GC pause, a cold start).
  service.pause()
  const verifier = library(t, { jwksUri: `${service.url}/.well-known/jwks.json`, feed: { url: `${service.url}/oauth/revocations`, clientId: 'fresh-reader', clientSecret: secret } })
  // The length of a real stall of the service's process (SIGSTOP).
  await sleep(400)
  service.resume()
  const resumedAt = performance.now()
  await t.resolves(until('the library to be fresh', async () => verifier.lagMs() <= MAX_LAG_MS, 3_000), 'fresh again after the stall')
  t.ok(performance.now() - resumedAt < 2_500, `within ${(performance.now() - resumedAt).toFixed(0)} ms of the service waking`)
  // Real time must pass: the service's heartbeats over a real connection are what keep it fresh.
  await sleep(1_000)
  t.ok(verifier.lagMs() <= MAX_LAG_MS, `and it stays fresh (${verifier.lagMs().toFixed(0)} ms)`)
})

test('over HTTP on a busy machine, the library is fresh whenever the service is', async (t) => {
  const { service, secret, env } = await feedService(t)
  // Four busy processes per core (a load average of about 10 here) from before the library connects: its
  // subscription starts as slowly as everything else does then.
  const burners = Array.from({ length: 8 }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }))
  t.teardown(() => burners.forEach((burner) => burner.kill('SIGKILL')))
  // Lets the eight burner processes load the machine before the library connects.
  await sleep(1_000)
  const overHttp = library(t, { jwksUri: `${service.url}/.well-known/jwks.json`, feed: { url: `${service.url}/oauth/revocations`, clientId: 'fresh-reader', clientSecret: secret } })
  const overRedis = library(t, { jwksUri: `${service.url}/.well-known/jwks.json`, feed: { redisUrl: env.REDIS_URL!, keyPrefix: env.REDIS_KEY_PREFIX } })
  await t.resolves(Promise.all([overHttp.ready(15_000), overRedis.ready(15_000)]), 'both get fresh under load')
  const samples: { http: number; redis: number }[] = []
  for (const until = performance.now() + 5_000; performance.now() < until; ) {
    samples.push({ http: overHttp.lagMs(), redis: overRedis.lagMs() })
    // Samples real time under real load: the lag of two real connections while eight processes burn the CPUs.
    await sleep(50)
  }
  const freshShare = (pick: (sample: { http: number; redis: number }) => number): number => samples.filter((sample) => pick(sample) <= MAX_LAG_MS).length / samples.length
  const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!
  const http = freshShare((sample) => sample.http)
  const redis = freshShare((sample) => sample.redis)
  t.comment(`lag medians: HTTP ${median(samples.map((s) => s.http)).toFixed(0)} ms, Redis ${median(samples.map((s) => s.redis)).toFixed(0)} ms; fresh ${(http * 100).toFixed(0)}% and ${(redis * 100).toFixed(0)}% of the time`)
  t.ok(http >= 0.8, `over HTTP, fresh ${(http * 100).toFixed(0)}% of the time under load`)
})
