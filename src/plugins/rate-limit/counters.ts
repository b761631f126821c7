import type { Cluster, Redis } from 'ioredis'
import { StoreUnavailableError } from '../../errors.js'
import { defineLuaScripts, luaScript, reply, runLua } from '@jwt-auth-service/verifier/feed'

/** A count per key over a fixed window: what the failure limits keep (@fastify/rate-limit counts every request). */
export interface WindowCounter {
  /** The count in the key's current window, and how long until the window ends. */
  peek(key: string): Promise<Count>
  add(key: string): Promise<Count>
  clear(key: string): Promise<void>
}

export interface Count {
  count: number
  /** Milliseconds until the window ends (0 when nothing is counted). */
  resetInMs: number
}

const script = (name: string): URL => new URL(`./lua/${name}.lua`, import.meta.url)

const counted = (value: unknown): Count => {
  const [count, ttl] = reply.integers(value)
  if (count === undefined || ttl === undefined) throw new TypeError(`not a count: ${JSON.stringify(value)}`)
  return { count, resetInMs: Math.max(0, ttl) }
}
const ADD = luaScript({ command: 'jwtCounterAdd', source: script('add'), keys: ['counter'], args: ['windowMs'], decode: counted })
const PEEK = luaScript({ command: 'jwtCounterPeek', source: script('peek'), keys: ['counter'], args: [], decode: counted })

/** With Redis the counts hold across instances; a Redis that cannot answer is a 503, never a skipped limit. */
export function redisCounter(redis: Redis | Cluster, name: string, windowMs: number): WindowCounter {
  defineLuaScripts(redis, [ADD, PEEK])
  const keyOf = (key: string): string => `rl:${name}:${key}`
  async function guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (error) {
      throw new StoreUnavailableError('rate limit', error)
    }
  }
  return {
    peek: (key) => guard(() => runLua(redis, PEEK, { counter: keyOf(key) }, {})),
    add: (key) => guard(() => runLua(redis, ADD, { counter: keyOf(key) }, { windowMs })),
    clear: (key) => guard(async () => void (await redis.del(keyOf(key))))
  }
}

/** Without Redis: per instance, in memory, by the service's clock; ended windows are swept as new ones start. */
export function memoryCounter(windowMs: number, now: () => number): WindowCounter {
  const windows = new Map<string, { count: number; endsAt: number }>()
  let nextSweep = now() + windowMs
  function current(key: string): { count: number; endsAt: number } | undefined {
    const window = windows.get(key)
    return window !== undefined && window.endsAt > now() ? window : undefined
  }
  return {
    async peek(key) {
      const window = current(key)
      return window === undefined ? { count: 0, resetInMs: 0 } : { count: window.count, resetInMs: window.endsAt - now() }
    },
    async add(key) {
      const time = now()
      if (time >= nextSweep) {
        for (const [name, window] of windows) if (window.endsAt <= time) windows.delete(name)
        nextSweep = time + windowMs
      }
      const window = current(key) ?? { count: 0, endsAt: time + windowMs }
      window.count += 1
      windows.set(key, window)
      return { count: window.count, resetInMs: window.endsAt - time }
    },
    async clear(key) {
      windows.delete(key)
    }
  }
}

/**
 * The client-authentication gate, in one round trip after the secret was checked: refuses while the
 * client id has `maxFailures` failures from this address (whatever the secret, so that a limited
 * guesser learns nothing), counts a failure, or counts a grant against `maxGrants`. The two counters
 * share the client's hash tag, so the script stays in one slot on Redis Cluster.
 */
export interface ClientGate {
  pass(clientId: string, address: string, outcome: 'authenticated' | 'failed', grant: boolean): Promise<GateVerdict>
}

export type GateVerdict = { limited: false } | { limited: 'failures' | 'grants'; resetInMs: number }

export interface GateLimits {
  maxFailures: number
  maxGrants: number
  windowMs: number
}

const GATE = luaScript({
  command: 'jwtClientGate',
  source: script('gate'),
  keys: ['failures', 'grants'],
  args: ['maxFailures', 'maxGrants', 'windowMs', 'outcome', 'grant'],
  decode: (value): GateVerdict => {
    const [kind, ttl] = reply.integers(value)
    if (kind === 0) return { limited: false }
    if ((kind === 1 || kind === 2) && ttl !== undefined) return { limited: kind === 1 ? 'failures' : 'grants', resetInMs: Math.max(0, ttl) }
    throw new TypeError(`not a verdict of the client gate: ${JSON.stringify(value)}`)
  }
})

export function redisClientGate(redis: Redis | Cluster, limits: GateLimits): ClientGate {
  defineLuaScripts(redis, [GATE])
  return {
    async pass(clientId, address, outcome, grant) {
      const tag = `rl:{c:${clientId}}`
      try {
        return await runLua(
          redis,
          GATE,
          { failures: `${tag}:failures:${address}`, grants: `${tag}:grants` },
          { maxFailures: limits.maxFailures, maxGrants: limits.maxGrants, windowMs: limits.windowMs, outcome, grant: grant ? 1 : 0 }
        )
      } catch (error) {
        throw new StoreUnavailableError('rate limit', error)
      }
    }
  }
}

export function memoryClientGate(limits: GateLimits, now: () => number): ClientGate {
  const failures = memoryCounter(limits.windowMs, now)
  const grants = memoryCounter(limits.windowMs, now)
  return {
    async pass(clientId, address, outcome, grant) {
      const failureKey = `${clientId}|${address}`
      const failed = await failures.peek(failureKey)
      if (failed.count >= limits.maxFailures) return { limited: 'failures', resetInMs: failed.resetInMs }
      if (outcome === 'failed') {
        await failures.add(failureKey)
        return { limited: false }
      }
      if (!grant) return { limited: false }
      const granted = await grants.add(clientId)
      return granted.count > limits.maxGrants ? { limited: 'grants', resetInMs: granted.resetInMs } : { limited: false }
    }
  }
}
