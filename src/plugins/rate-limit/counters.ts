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
