import type { Cluster, Redis } from 'ioredis'
import { StoreUnavailableError } from '../../errors.js'

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

// KEYS: counter. ARGV: window (ms). The window starts with the first count, as @fastify/rate-limit's does.
const ADD = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('PTTL', KEYS[1])}`
const PEEK = `return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('PTTL', KEYS[1])}`

type Scripted = (Redis | Cluster) & {
  jwtCounterAdd(key: string, windowMs: number): Promise<[number, number]>
  jwtCounterPeek(key: string): Promise<[number, number]>
}

/** With Redis the counts hold across instances; a Redis that cannot answer is a 503, never a skipped limit. */
export function redisCounter(redis: Redis | Cluster, name: string, windowMs: number): WindowCounter {
  redis.defineCommand('jwtCounterAdd', { numberOfKeys: 1, lua: ADD })
  redis.defineCommand('jwtCounterPeek', { numberOfKeys: 1, lua: PEEK })
  const scripted = redis as Scripted
  const keyOf = (key: string): string => `rl:${name}:${key}`
  async function guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (error) {
      throw new StoreUnavailableError('rate limit', error)
    }
  }
  const asCount = ([count, ttl]: [number, number]): Count => ({ count, resetInMs: Math.max(0, ttl) })
  return {
    peek: (key) => guard(async () => asCount(await scripted.jwtCounterPeek(keyOf(key)))),
    add: (key) => guard(async () => asCount(await scripted.jwtCounterAdd(keyOf(key), windowMs))),
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

// KEYS: failures (client id and address), grants (client id). ARGV: max failures, max grants, window (ms), outcome, grant (1|0).
// Returns {0} to pass, {1, ttl} when limited by failures, {2, ttl} when limited by grants.
const GATE = `
local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
if failures >= tonumber(ARGV[1]) then return {1, redis.call('PTTL', KEYS[1])} end
if ARGV[4] == 'failed' then
  if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
  return {0}
end
if ARGV[5] == '1' then
  local grants = redis.call('INCR', KEYS[2])
  if grants == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
  if grants > tonumber(ARGV[2]) then return {2, redis.call('PTTL', KEYS[2])} end
end
return {0}`

type GateScripted = (Redis | Cluster) & {
  jwtClientGate(failures: string, grants: string, ...args: (string | number)[]): Promise<[number, number?]>
}

function verdictOf([kind, ttl]: [number, number?]): GateVerdict {
  if (kind === 0) return { limited: false }
  return { limited: kind === 1 ? 'failures' : 'grants', resetInMs: Math.max(0, ttl ?? 0) }
}

export function redisClientGate(redis: Redis | Cluster, limits: GateLimits): ClientGate {
  redis.defineCommand('jwtClientGate', { numberOfKeys: 2, lua: GATE })
  const scripted = redis as GateScripted
  return {
    async pass(clientId, address, outcome, grant) {
      const tag = `rl:{c:${clientId}}`
      try {
        const result = await scripted.jwtClientGate(`${tag}:failures:${address}`, `${tag}:grants`, limits.maxFailures, limits.maxGrants, limits.windowMs, outcome, grant ? 1 : 0)
        return verdictOf(result)
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
