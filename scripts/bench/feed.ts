import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { systemClock } from '../../src/auth/clock.js'
import { createVerifier } from '@jwt-auth-service/verifier'
import { feedLayout, FeedReader, RevocationReplica } from '@jwt-auth-service/verifier/feed'

/** The revocation feed's own figures: propagation, the library's rate, memory for 1M revocations. */
export interface FeedFigures {
  revocations: number
  propagationP50Ms: number
  propagationP99Ms: number
  libraryPerSecond: number
  memory: { entries: number; rssMb: number; rssBeforeMb: number; bytesPerEntry: number }
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0

/**
 * Propagation: `count` refreshes through the service, one after another, each revoking its parent's `jti`;
 * for each, the time from sending the request to the moment a feed reader in this process (as the
 * verifier library runs it, fed from Redis) has applied the parent's revocation.
 * The library: verifications per second of one token seen before, on this process's one core, with
 * `exp` and the revocation state checked on every call.
 */
export async function measureFeed(options: { serviceUrl: string; redisUrl: string; keyPrefix: string; token: string; issuer: string; count: number; seconds: number; dist: string }): Promise<FeedFigures> {
  const { serviceUrl, redisUrl, keyPrefix, count, seconds } = options
  const redis = new Redis(redisUrl, { keyPrefix, lazyConnect: true })
  await redis.connect()
  const layout = feedLayout(false)
  const reader = new FeedReader({ redis, layout, replica: new RevocationReplica(layout.shards), now: systemClock.now, probeEveryMs: 50, blockMs: 1_000, beginGeneration: false, log: { warn: () => {} } })
  const arrived = new Map<string, number>()
  reader.on('entry', ({ event }) => {
    if (event.kind === 'token') arrived.set(event.id, performance.now())
  })
  reader.start()
  const delays: number[] = []
  // The chain's newest token: live at the end.
  let token = options.token
  try {
    while (reader.lagMs() > 250) await new Promise((resolve) => setTimeout(resolve, 10))
    for (let i = 0; i < count; i++) {
      const jti = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti
      const sent = performance.now()
      const response = await fetch(`${serviceUrl}/api/refresh`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
      if (!response.ok) throw new Error(`refresh: ${response.status} ${await response.text()}`)
      token = ((await response.json()) as { access_token: string }).access_token
      while (!arrived.has(jti)) await new Promise((resolve) => setImmediate(resolve))
      delays.push(arrived.get(jti)! - sent)
    }
  } finally {
    await reader.stop()
    redis.disconnect()
  }
  delays.sort((a, b) => a - b)

  const verifier = createVerifier({ issuer: options.issuer, audience: options.issuer, accept: ['user'], jwksUri: `${serviceUrl}/.well-known/jwks.json`, feed: { redisUrl, keyPrefix } })
  let verified = 0
  try {
    await verifier.ready()
    await verifier.verify(token)
    const deadline = performance.now() + seconds * 1000
    while (performance.now() < deadline) {
      for (let i = 0; i < 1000; i++) await verifier.verify(token)
      verified += 1000
      // As a server's event loop does between requests: the feed's reads and probes run here.
      await new Promise((resolve) => setImmediate(resolve))
    }
  } finally {
    await verifier.close()
  }

  const run = spawnSync(process.execPath, ['--expose-gc', join(options.dist, 'scripts', 'revocation-memory.js'), '1000000'], { encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`revocation-memory: ${run.stderr}`)
  const memory = JSON.parse(run.stdout) as FeedFigures['memory']

  return {
    revocations: delays.length,
    propagationP50Ms: percentile(delays, 0.5),
    propagationP99Ms: percentile(delays, 0.99),
    libraryPerSecond: verified / seconds,
    memory
  }
}
