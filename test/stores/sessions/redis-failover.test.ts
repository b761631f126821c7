import type { FastifyInstance } from 'fastify'
import { test } from 'tap'
import { assertError, bearer, buildApp, claimsOf, login, registerAndLogin, storeEnv, until, type TestContext } from '../../helper.js'
import { askWith, OwnRedisCluster, OwnSentinelGroup } from '../../redis-topologies.js'
import { feedLayout } from '@jwt-auth-service/verifier/feed'

/**
 * Revocations acknowledged before a master failover are still enforced after it. With
 * REDIS_WAIT_REPLICAS=1 an acknowledged revocation is on the replica that gets promoted.
 */
async function revocationsSurviveFailover(t: TestContext, redisSettings: Record<string, string>, killMasterOf: (sub: string) => Promise<void>): Promise<void> {
  const env = await storeEnv(t, 'redis-postgres', { ...redisSettings, REDIS_WAIT_REPLICAS: '1', REFRESH_GRACE: '0', REDIS_COMMAND_TIMEOUT_MS: '500' })
  delete env.REDIS_URL
  const app: FastifyInstance = await buildApp(t, env)

  const account = await registerAndLogin(app)
  const rotated = account.token
  const live = (await app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(rotated) })).json().access_token as string
  const loggedOut = (await login(app, account.email, account.password)).access_token
  t.equal((await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(loggedOut) })).statusCode, 200, 'logout acknowledged')
  const other = (await login(app, account.email, account.password)).access_token
  t.equal((await app.inject({ method: 'POST', url: '/api/logout?scope=others', headers: bearer(live) })).statusCode, 200, 'logout of the other sessions acknowledged')

  await killMasterOf(claimsOf(live).sub as string)

  await until('the service to answer again after the failover', async () => {
    const response = await app.inject({ url: '/api/user', headers: bearer(live) })
    return response.statusCode !== 503
  })
  t.equal((await app.inject({ url: '/api/user', headers: bearer(live) })).statusCode, 200, 'the live token still works')
  assertError(t, await app.inject({ url: '/api/user', headers: bearer(rotated) }), 401, 'TOKEN_REVOKED')
  assertError(t, await app.inject({ url: '/api/user', headers: bearer(loggedOut) }), 401, 'TOKEN_REVOKED')
  assertError(t, await app.inject({ url: '/api/user', headers: bearer(other) }), 401, 'TOKEN_REVOKED')
  t.equal((await app.inject({ method: 'POST', url: '/api/login', payload: { email: account.email, password: account.password } })).statusCode, 200, 'new logins work')

  // The promoted master has no replica: a revocation can no longer be made durable, so it is not acknowledged.
  assertError(t, await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(live) }), 503, 'STORE_UNAVAILABLE')
}

test('Redis Cluster: revocations survive a master failover', async (t) => {
  const cluster = await OwnRedisCluster.start(t)
  await revocationsSurviveFailover(t, { REDIS_CLUSTER_NODES: cluster.nodes }, async (sub) => {
    // The user's keys live in the slot of the user's feed shard (revocation-feed.ts).
    const master = await cluster.masterOf(feedLayout(true).userTag(sub))
    await cluster.kill(master)
    await until('a replica promoted in place of the killed master', async () => {
      const masters = await cluster.masters()
      return masters.size === 3 && ![...masters.values()].includes(master)
    })
  })
})

test('Redis Sentinel with passwords (REDIS_PASSWORD, REDIS_SENTINEL_PASSWORD): revocations survive a master failover', async (t) => {
  const passwords = { data: 'data-nodes-secret', sentinel: 'sentinels-secret' }
  const group = await OwnSentinelGroup.start(t, passwords)
  // Without the passwords, the group refuses the service: the passwords below are what lets it in.
  t.equal(await askWith(group.master, undefined, 'PING'), undefined, 'the master refuses a client without its password')
  t.equal(await askWith(group.master, passwords.data, 'PING'), 'PONG', 'and takes one with it')
  t.equal(await askWith(group.sentinels[0]!, undefined, 'SENTINEL', 'MASTERS'), undefined, 'so do the sentinels, with theirs')
  t.ok(Array.isArray(await askWith(group.sentinels[0]!, passwords.sentinel, 'SENTINEL', 'MASTERS')))
  const settings = { REDIS_SENTINELS: group.sentinelList, REDIS_SENTINEL_NAME: OwnSentinelGroup.NAME, REDIS_PASSWORD: passwords.data, REDIS_SENTINEL_PASSWORD: passwords.sentinel }
  await revocationsSurviveFailover(t, settings, async () => {
    await group.kill(group.master)
    await until('the sentinels to promote the replica', async () => (await group.currentMaster()) === group.replica)
  })
})

test('Redis Cluster: the whole seed flow, with every key of a user in one slot', async (t) => {
  const cluster = await OwnRedisCluster.start(t)
  const env = await storeEnv(t, 'redis-postgres', { REDIS_CLUSTER_NODES: cluster.nodes })
  delete env.REDIS_URL
  const app = await buildApp(t, env)
  // Several users, so that their keys land on different masters.
  for (let i = 0; i < 6; i++) {
    const { token } = await registerAndLogin(app)
    const responses = await Promise.all(Array.from({ length: 10 }, () => app.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) })))
    t.equal(new Set(responses.map((r) => r.json().access_token)).size, 1, 'concurrent refreshes: one child')
    const child = responses[0]!.json().access_token as string
    assertError(t, await app.inject({ url: '/api/user', headers: bearer(token) }), 401, 'TOKEN_REVOKED')
    t.equal((await app.inject({ url: '/api/sessions', headers: bearer(child) })).json().sessions.length, 1)
    t.equal((await app.inject({ method: 'POST', url: '/api/logout?scope=global', headers: bearer(child) })).statusCode, 200)
    assertError(t, await app.inject({ url: '/api/user', headers: bearer(child) }), 401, 'TOKEN_REVOKED')
  }
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200)
})
