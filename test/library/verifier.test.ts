import Fastify, { type FastifyInstance } from 'fastify'
import { test } from 'tap'
import { createVerifier, VerificationError, type TokenVerifier, type VerifierOptions } from '@jwt-auth-service/verifier'
import jwtAuth from '@jwt-auth-service/verifier/fastify'
import { settableClock } from '../../src/auth/clock.js'
import { basic, bearer, buildApp, claimsOf, createClient, form, login, registerAndLogin, REDIS_URL, sleep, storeEnv, until, type Env, type TestContext } from '../helper.js'
import { OwnRedis } from '../services.js'

/** The service, listening on a loopback port (the library fetches its JWKS and its feed over HTTP). */
async function listeningService(t: TestContext, overrides: Env = {}): Promise<{ app: FastifyInstance; url: string; env: Env }> {
  const env = await storeEnv(t, 'redis-postgres', overrides)
  const app = await buildApp(t, env)
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url: address, env }
}

function verifierFor(t: TestContext, options: VerifierOptions): TokenVerifier {
  const verifier = createVerifier(options)
  t.teardown(() => verifier.close())
  return verifier
}

async function refusal(promise: Promise<unknown>): Promise<VerificationError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof VerificationError) return error
    throw error
  }
  throw new Error('the token was accepted')
}

async function clientToken(app: FastifyInstance, clientId: string, secret: string, fields: Record<string, string> = {}): Promise<string> {
  const response = await app.inject(form('/oauth/token', { grant_type: 'client_credentials', ...fields }, basic(clientId, secret)))
  if (response.statusCode !== 200) throw new Error(`token: ${response.statusCode} ${response.body}`)
  return response.json().access_token as string
}

test('createVerifier without issuer, audience or feed throws', async (t) => {
  const feed = { redisUrl: REDIS_URL }
  t.throws(() => createVerifier({ audience: 'https://api.test', feed } as unknown as VerifierOptions), /issuer/)
  t.throws(() => createVerifier({ issuer: 'http://auth.test', feed } as unknown as VerifierOptions), /audience/)
  t.throws(() => createVerifier({ issuer: 'http://auth.test', audience: 'http://auth.test' } as unknown as VerifierOptions), /feed/)
  const complete = { issuer: 'http://auth.test', audience: 'http://auth.test', feed }
  for (const accept of [undefined, [], ['admin'], 'user']) {
    t.throws(() => createVerifier({ ...complete, accept } as unknown as VerifierOptions), /`accept` is required: the kinds of token this service takes, among 'user', 'client' and 'delegated'/, `accept ${JSON.stringify(accept)}`)
  }
  t.throws(() => createVerifier({ ...complete, audience: [], accept: ['user'] }), /audience/, 'an empty list of audiences')
})

test('the library, fed from Redis: verifies locally, and refuses a revoked token within milliseconds', async (t) => {
  const { app, url, env } = await listeningService(t)
  const verifier = verifierFor(t, { issuer: 'http://auth.test', audience: 'http://auth.test', accept: ['user'], jwksUri: `${url}/.well-known/jwks.json`, feed: { redisUrl: REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX } })
  await verifier.ready()
  const account = await registerAndLogin(app)
  const claims = await verifier.verify(account.token)
  t.match(claims, { iss: 'http://auth.test', sid: String, jti: String }, 'a user token\'s claims')

  t.equal((await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(account.token) })).statusCode, 200)
  await until('the library to refuse the logged-out token', async () => (await refusal(verifier.verify(account.token)).catch(() => undefined))?.code === 'TOKEN_REVOKED', 1_000)

  const secret = await createClient(app, 'lib-client', ['orders:read', 'orders:write'], { audiences: ['https://orders.test'] })
  const forOrders = await clientToken(app, 'lib-client', secret, { resource: 'https://orders.test', scope: 'orders:read' })
  const orders = verifierFor(t, { issuer: 'http://auth.test', audience: 'https://orders.test', accept: ['client'], jwksUri: `${url}/.well-known/jwks.json`, feed: { redisUrl: REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX } })
  await orders.ready()
  t.match(await orders.verify(forOrders, { scopes: ['orders:read'] }), { client_id: 'lib-client', scope: 'orders:read' })

  // Kinds never pass for each other, whatever the audience: a verifier for users, under both names, refuses the client token.
  const usersOnly = verifierFor(t, { issuer: 'http://auth.test', audience: ['http://auth.test', 'https://orders.test'], accept: ['user'], jwksUri: `${url}/.well-known/jwks.json`, feed: { redisUrl: REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX } })
  await usersOnly.ready()
  const asUser = await refusal(usersOnly.verify(forOrders))
  t.match(asUser, { code: 'TOKEN_INVALID', message: 'the token is a client token; this service accepts user tokens' })
  const userToken = (await login(app, account.email, account.password)).access_token
  t.match(await usersOnly.verify(userToken), { kind: 'user', sub: String }, 'a user token, with its kind')
  const bothKinds = verifierFor(t, { issuer: 'http://auth.test', audience: 'https://orders.test', accept: ['user', 'client'], jwksUri: `${url}/.well-known/jwks.json`, feed: { redisUrl: REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX } })
  await bothKinds.ready()
  t.match(await bothKinds.verify(forOrders), { kind: 'client', client_id: 'lib-client' })
  t.match(await refusal(bothKinds.verify(userToken)), { code: 'TOKEN_INVALID', message: 'the token is for "http://auth.test", not for "https://orders.test"' }, 'an audience mismatch names both')

  const otherAudience = (await login(app, account.email, account.password)).access_token
  const cases: [string, () => Promise<unknown>, string][] = [
    ['a scope the token lacks', () => orders.verify(forOrders, { scopes: ['orders:write'] }), 'INSUFFICIENT_SCOPE'],
    ['a token for another audience', () => orders.verify(otherAudience), 'TOKEN_INVALID'],
    ['a tampered payload', () => orders.verify(forOrders.replace(/\.([^.]+)\./, (_, p: string) => `.${p.slice(0, -2)}AA.`)), 'TOKEN_INVALID'],
    ['not a JWT', () => orders.verify('not-a-token'), 'TOKEN_INVALID'],
    ['alg none', () => orders.verify(`${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${forOrders.split('.')[1]}.`), 'TOKEN_INVALID']
  ]
  for (const [what, attempt, code] of cases) t.equal((await refusal(attempt())).code, code, what)

  await app.inject(form('/oauth/revoke', { token: forOrders }, basic('lib-client', secret)))
  await until('the library to refuse the revoked client token', async () => (await refusal(orders.verify(forOrders)).catch(() => undefined))?.code === 'TOKEN_REVOKED', 1_000)
})

test('the library judges expiry by the clock it is given', async (t) => {
  const { app, url, env } = await listeningService(t)
  const clock = settableClock()
  const verifier = verifierFor(t, { issuer: 'http://auth.test', audience: 'http://auth.test', accept: ['user'], jwksUri: `${url}/.well-known/jwks.json`, clock, feed: { redisUrl: REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX } })
  await verifier.ready()
  const account = await registerAndLogin(app)
  const fresh = (await login(app, account.email, account.password)).access_token
  await verifier.verify(account.token)
  clock.set((claimsOf(fresh).exp as number) * 1000) // the later of the two
  t.equal((await refusal(verifier.verify(account.token))).code, 'TOKEN_EXPIRED', 'a token seen before: expired at its exp, by that clock')
  t.equal((await refusal(verifier.verify(fresh))).code, 'TOKEN_EXPIRED', 'a token not seen before: jose judges it by the same clock')
})

test("sessionTtl: a user token whose session has ended is refused, as the service refuses it, also before the token's exp", async (t) => {
  const { app, url, env } = await listeningService(t)
  const clock = settableClock()
  const options = { issuer: 'http://auth.test', audience: 'http://auth.test', accept: ['user'] as const, jwksUri: `${url}/.well-known/jwks.json`, clock, feed: { redisUrl: REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX } }
  // The service's SESSION_TTL lowered to a minute after this token was issued: its session is over at auth_time + 60.
  const strict = verifierFor(t, { ...options, sessionTtl: 60 })
  const lenient = verifierFor(t, options)
  await Promise.all([strict.ready(), lenient.ready()])
  const account = await registerAndLogin(app)
  const { auth_time: authTime, exp } = claimsOf(account.token) as { auth_time: number; exp: number }
  t.ok(exp > authTime + 60, 'the token itself lives longer than the shortened session')
  clock.set((authTime + 60) * 1000 - 1)
  await strict.verify(account.token)
  clock.set((authTime + 60) * 1000)
  const ended = await refusal(strict.verify(account.token))
  t.equal(ended.code, 'SESSION_EXPIRED', 'refused from the session\'s end on, to the millisecond')
  t.equal(ended.statusCode, 401)
  t.equal((await lenient.verify(account.token)).sid, claimsOf(account.token).sid, 'without sessionTtl, exp alone bounds it')
  for (const sessionTtl of [0, -1, 1.5, Number.NaN]) {
    t.throws(() => createVerifier({ ...options, sessionTtl }), /sessionTtl/, `sessionTtl ${sessionTtl}`)
  }
})

test('the library refuses every token while its feed is stale (FEED_STALE, 503), and accepts again once it is not', async (t) => {
  const redis = await OwnRedis.start(t)
  const { app, url, env } = await listeningService(t, { REDIS_URL: redis.url })
  // The feed's lag is measured by this clock, which jumps forward when told: the lag passes without a sleep.
  const elapsed = settableClock()
  const verifier = verifierFor(t, { issuer: 'http://auth.test', audience: 'http://auth.test', accept: ['user'], jwksUri: `${url}/.well-known/jwks.json`, maxLagMs: 100, monotonic: elapsed.monotonic, feed: { redisUrl: redis.url, keyPrefix: env.REDIS_KEY_PREFIX } })
  await verifier.ready()
  const account = await registerAndLogin(app)
  await verifier.verify(account.token)
  redis.pause()
  try {
    elapsed.advance(200)
    const stale = await refusal(verifier.verify(account.token))
    t.equal(stale.code, 'FEED_STALE')
    t.equal(stale.statusCode, 503)
  } finally {
    redis.resume()
  }
  await verifier.ready()
  t.match(await verifier.verify(account.token), { sub: String }, 'accepted again')
})

test('GET /oauth/revocations: the feed over Server-Sent Events, for the library and for any SSE client', async (t) => {
  const { app, url } = await listeningService(t)
  const secret = await createClient(app, 'feed-reader', ['read'], { privileges: ['revocations'] })
  const plain = await createClient(app, 'no-feed', ['read'])

  t.test('negative cases', async (t) => {
    const cases: [string, Record<string, string>, number, string][] = [
      ['no client authentication', {}, 401, 'invalid_client'],
      ['a wrong secret', basic('feed-reader', 'wrong'), 401, 'invalid_client'],
      ['an unknown client', basic('nobody', 'x'), 401, 'invalid_client'],
      ['malformed Basic credentials', { authorization: 'Basic !!!' }, 401, 'invalid_client'],
      ['a client without the revocations privilege', basic('no-feed', plain), 403, 'unauthorized_client']
    ]
    for (const [what, headers, status, error] of cases) {
      const response = await app.inject({ url: '/oauth/revocations', headers })
      t.equal(response.statusCode, status, what)
      t.equal(response.json().error, error, what)
    }
    t.equal((await app.inject({ method: 'POST', url: '/oauth/revocations', headers: basic('feed-reader', secret) })).statusCode, 404, 'POST is no method of it')
  })

  t.test('a snapshot, then live events, and a cursor to resume from', async (t) => {
    const account = await registerAndLogin(app)
    await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(account.token) })
    const read = async (lastEventId?: string, until = 'ready', onReady = (): void => {}): Promise<{ events: { event: string; data: string; id?: string }[] }> => {
      const controller = new AbortController()
      const headers: Record<string, string> = { ...basic('feed-reader', secret), accept: 'text/event-stream' }
      if (lastEventId !== undefined) headers['last-event-id'] = lastEventId
      const response = await fetch(`${url}/oauth/revocations`, { headers, signal: controller.signal })
      t.equal(response.status, 200)
      t.match(response.headers.get('content-type'), /^text\/event-stream/)
      const events: { event: string; data: string; id?: string }[] = []
      let text = ''
      for await (const chunk of response.body!) {
        text += Buffer.from(chunk as Uint8Array).toString('utf8')
        let end: number
        while ((end = text.indexOf('\n\n')) >= 0) {
          const block = text.slice(0, end)
          text = text.slice(end + 2)
          const field = (name: string) => block.split('\n').find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2)
          if (field('event') !== undefined) events.push({ event: field('event')!, data: field('data')!, id: field('id') })
          if (field('event') === 'ready') onReady()
        }
        if (events.some((e) => e.event === until)) break
      }
      controller.abort()
      return { events }
    }
    const first = await read()
    t.equal(first.events[0]!.event, 'generation')
    const sid = JSON.parse(Buffer.from(account.token.split('.')[1]!, 'base64url').toString()).sid as string
    t.ok(first.events.some((e) => e.event === 'revocation' && JSON.parse(e.data).id === sid), 'the snapshot holds the ended session')
    const cursor = first.events.find((e) => e.event === 'ready')!.id!
    t.ok(cursor, 'ready carries the cursor')

    const resumed = await read(cursor)
    t.notOk(resumed.events.some((e) => e.event === 'revocation'), 'resumed after the cursor: nothing is sent twice')
    const other = await registerAndLogin(app)
    // The logout once the subscription is ready: its event then comes live, not in a snapshot.
    let ready!: () => void
    const subscribed = new Promise<void>((resolve) => (ready = resolve))
    const live = read(cursor, 'revocation', ready)
    await subscribed
    await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(other.token) })
    const events = (await live).events.filter((e) => e.event === 'revocation')
    t.equal(events.length, 1, 'the new revocation, live')
    const unknown = await read('123~9-9')
    t.ok(unknown.events.some((e) => e.event === 'revocation' && JSON.parse(e.data).id === sid), 'an unknown cursor gets the whole snapshot')
  })

  t.test('the library over HTTP: ready, then a logout refused within milliseconds; heartbeats keep it fresh', async (t) => {
    const verifier = verifierFor(t, { issuer: 'http://auth.test', audience: 'http://auth.test', accept: ['user'], jwksUri: `${url}/.well-known/jwks.json`, feed: { url: `${url}/oauth/revocations`, clientId: 'feed-reader', clientSecret: secret } })
    await verifier.ready()
    const account = await registerAndLogin(app)
    await verifier.verify(account.token)
    // Real time must pass here: what keeps the library fresh without events is the service's heartbeat timer.
    await sleep(500)
    t.ok(verifier.lagMs() < 250, `fresh after a while without events (${Math.round(verifier.lagMs())} ms)`)
    await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(account.token) })
    await until('the library to refuse the logged-out token', async () => (await refusal(verifier.verify(account.token)).catch(() => undefined))?.code === 'TOKEN_REVOKED', 1_000)
  })

  t.test('the plugin with a wrong secret, or a client without the privilege: its error names which, before Fastify gives up', async (t) => {
    const cases: [string, string, string, RegExp][] = [
      ['a wrong secret', 'feed-reader', 'wrong', /refused the credentials of client "feed-reader" \(401\): check clientId and clientSecret/],
      ['no revocations privilege', 'no-feed', plain, /client "no-feed" may not read the revocation feed \(403\).*--allow revocations/]
    ]
    for (const [what, clientId, clientSecret, cause] of cases) {
      const api = Fastify({ pluginTimeout: 2_500 })
      t.teardown(() => api.close())
      api.register(jwtAuth, { issuer: 'http://auth.test', audience: 'http://auth.test', accept: ['user'], jwksUri: `${url}/.well-known/jwks.json`, feed: { url: `${url}/oauth/revocations`, clientId, clientSecret } })
      const error = await api.ready().then(
        () => undefined,
        (failure: Error & { code?: string }) => failure
      )
      t.equal(error?.code, 'FEED_STALE', `${what}: the plugin's error, not Fastify's timeout`)
      t.match(error?.message, cause, `${what}: named`)
    }
  })
})

test('the Fastify plugin: a preHandler that answers 401, 403 and 503 in the service\'s error shape', async (t) => {
  const redis = await OwnRedis.start(t)
  const { app: service, url, env } = await listeningService(t, { REDIS_URL: redis.url })
  const api = Fastify()
  t.teardown(() => api.close())
  const elapsed = settableClock()
  await api.register(jwtAuth, { issuer: 'http://auth.test', audience: 'http://auth.test', accept: ['user'], jwksUri: `${url}/.well-known/jwks.json`, maxLagMs: 100, monotonic: elapsed.monotonic, feed: { redisUrl: redis.url, keyPrefix: env.REDIS_KEY_PREFIX } })
  api.get('/me', { preHandler: api.requireToken() }, async (request) => ({ sub: request.tokenClaims!.sub }))
  api.get('/admin', { preHandler: api.requireToken({ scopes: ['admin'] }) }, async () => ({ ok: true }))
  await api.ready()

  const account = await registerAndLogin(service)
  const me = await api.inject({ url: '/me', headers: bearer(account.token) })
  t.equal(me.statusCode, 200)
  t.match(me.json(), { sub: String })
  t.equal((await api.inject({ url: '/me', headers: { authorization: `bearer ${account.token}  ` } })).statusCode, 200, 'Bearer parsed as the service parses it: any case, trailing spaces')

  const cases: [string, Record<string, string>, string, number, string][] = [
    ['no token', {}, '/me', 401, 'TOKEN_INVALID'],
    ['a malformed token', bearer('abc'), '/me', 401, 'TOKEN_INVALID'],
    ['two words after Bearer', { authorization: `Bearer ${account.token} x` }, '/me', 401, 'TOKEN_INVALID'],
    ['another scheme', { authorization: `Basic ${account.token}` }, '/me', 401, 'TOKEN_INVALID'],
    ['a missing scope', bearer(account.token), '/admin', 403, 'INSUFFICIENT_SCOPE']
  ]
  for (const [what, headers, path, status, code] of cases) {
    // Each case is about its own refusal, not the feed's freshness: on a loaded machine the feed may be stale
    // for a moment (503 by design, shown below), so each waits until it is fresh again.
    await api.tokenVerifier.ready()
    const response = await api.inject({ url: path, headers })
    t.equal(response.statusCode, status, what)
    t.match(response.json(), { statusCode: status, error: String, code, message: String }, what)
    if (status === 401) t.match(response.headers['www-authenticate'], /^Bearer/, `${what}: a Bearer challenge`)
  }
  await service.inject({ method: 'POST', url: '/api/logout', headers: bearer(account.token) })
  await until('the plugin to refuse the logged-out token', async () => (await api.inject({ url: '/me', headers: bearer(account.token) })).statusCode === 401, 1_000)
  t.match((await api.inject({ url: '/me', headers: bearer(account.token) })).headers['www-authenticate'], /error="invalid_token"/)

  const fresh = (await login(service, account.email, account.password)).access_token
  redis.pause()
  try {
    // The plugin's reader hears nothing from the paused Redis: stale once its clock moves past the bound.
    elapsed.advance(200)
    const stale = await api.inject({ url: '/me', headers: bearer(fresh) })
    t.equal(stale.statusCode, 503, 'a stale feed: 503, never a pass')
    t.equal(stale.json().code, 'FEED_STALE')
    t.ok(stale.headers['retry-after'])
  } finally {
    redis.resume()
  }
})
