import { freePort, ServiceProcess, VerifierHost, type Managed } from '../../scripts/nemesis/processes.js'
import { createClient, sleep, storeEnv, type Env, type TestContext } from '../helper.js'
import { OwnRedis } from '../services.js'

/**
 * The verifier library, in a process of its own, never accepts a token revoked while something was paused
 * (SIGSTOP): its own process (a GC pause), or the service its HTTP feed comes from. Each trial sends
 * requests during the pause and right after it, all later than the bound after the logout's answer.
 */
const MAX_LAG_MS = 250

interface Sent {
  sentAt: number
  status: number
}

async function deployment(t: TestContext, prefix: string | undefined) {
  const redis = await OwnRedis.start(t)
  const env: Env = { ...(await storeEnv(t, 'redis-postgres')), REDIS_URL: redis.url, REVOCATION_MAX_LAG_MS: String(MAX_LAG_MS), LOG_LEVEL: 'warn' }
  if (prefix === undefined) delete env.REDIS_KEY_PREFIX
  else env.REDIS_KEY_PREFIX = prefix
  const feedService = new ServiceProcess('feed service', await freePort(), env)
  const other = new ServiceProcess('other instance', await freePort(), env)
  for (const instance of [feedService, other]) t.teardown(() => instance.remove())
  await Promise.all([feedService.start(), other.start()])

  const { buildApp } = await import('../helper.js')
  const admin = await buildApp(t, env)
  const secret = await createClient(admin, 'library', ['read'], { privileges: ['revocations'] })
  const common = { ISSUER: 'http://auth.test', JWKS_URI: `${feedService.url}/.well-known/jwks.json`, MAX_LAG_MS: String(MAX_LAG_MS) }
  const overRedis = new VerifierHost('library over Redis', { ...common, FEED: JSON.stringify({ redisUrl: redis.url, keyPrefix: prefix }) })
  const overHttp = new VerifierHost('library over HTTP', { ...common, FEED: JSON.stringify({ url: `${feedService.url}/oauth/revocations`, clientId: 'library', clientSecret: secret }) })
  for (const host of [overRedis, overHttp]) t.teardown(() => host.kill())
  await Promise.all([overRedis.start(), overHttp.start()])

  const email = `library.${Date.now()}@example.com`
  const password = 'correct horse battery'
  const post = (path: string, body?: unknown, token?: string) =>
    fetch(`${other.url}${path}`, {
      method: 'POST',
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
  await post('/api/register', { name: 'Library', email, password, password_confirmation: password })
  const login = async (): Promise<string> => ((await (await post('/api/login', { email, password })).json()) as { access_token: string }).access_token
  const logout = async (token: string): Promise<number> => (await post('/api/logout', undefined, token)).status
  return { feedService, overRedis, overHttp, login, logout }
}

function verifyAt(host: VerifierHost, token: string): Promise<Sent> {
  const sentAt = performance.now()
  return fetch(`${host.url}/verify`, { headers: { authorization: `Bearer ${token}` } }).then(
    (response) => ({ sentAt, status: response.status }),
    () => ({ sentAt, status: 0 })
  )
}

/**
 * One trial: `paused` sleeps `pauseMs` through a logout; what `checker` answers after the bound is collected.
 * A pause longer than the library's Redis command timeout (2 s) also makes its blocking read time out as it
 * wakes, its reply dropped and read again later.
 */
async function trial(t: TestContext, paused: Managed, checker: VerifierHost, pauseMs: number, login: () => Promise<string>, logout: (token: string) => Promise<number>): Promise<Sent[]> {
  const token = await login()
  for (let attempt = 0; (await verifyAt(checker, token)).status !== 200; attempt++) {
    if (attempt > 200) throw new Error(`${checker.name} never accepted the fresh token`)
    // Sleeps here wait for real processes: the verifier host's feed to bring the login, then the
    // lengths of a real SIGSTOP pause of the process under trial.
    await sleep(20)
  }
  paused.pause()
  try {
    await sleep(150)
    t.equal(await logout(token), 200, 'logged out during the pause')
    const loggedOutAt = performance.now()
    await sleep(Math.max(MAX_LAG_MS + 50, pauseMs - 350))
    const queued = Array.from({ length: 5 }, () => verifyAt(checker, token))
    await sleep(200)
    paused.resume()
    const sent: Promise<Sent>[] = [...queued]
    for (const until = performance.now() + 400; performance.now() < until; ) {
      const batch = Array.from({ length: 4 }, () => verifyAt(checker, token))
      sent.push(...batch)
      await Promise.all(batch)
    }
    return (await Promise.all(sent)).filter(({ sentAt }) => sentAt > loggedOutAt + MAX_LAG_MS)
  } finally {
    paused.resume()
  }
}

/** Pauses of the library's own process as long as the GC pause that was seen (2.5 s), and shorter stalls of the service. */
export async function pauseTrials(t: TestContext, prefix: string | undefined): Promise<void> {
  const { feedService, overRedis, overHttp, login, logout } = await deployment(t, prefix)
  const cases: [string, Managed, VerifierHost, number, number][] = [
    ['the library\'s own process, over the Redis feed', overRedis, overRedis, 2_500, 3],
    ['the library\'s own process, over the HTTP feed', overHttp, overHttp, 2_500, 3],
    ['the service behind the HTTP feed', feedService, overHttp, 700, 4]
  ]
  for (const [what, paused, checker, pauseMs, trials] of cases) {
    const late: Sent[] = []
    for (let i = 0; i < trials; i++) late.push(...(await trial(t, paused, checker, pauseMs, login, logout)))
    t.ok(late.length >= trials * 5, `${what} paused: ${late.length} verifications sent past the bound`)
    t.equal(late.filter(({ status }) => status === 200).length, 0, `${what} paused: none accepted the revoked token`)
    t.same([...new Set(late.map(({ status }) => status))].filter((status) => status !== 401 && status !== 503), [], `${what} paused: 401, or 503 (FEED_STALE) while it could not tell`)
  }
}
