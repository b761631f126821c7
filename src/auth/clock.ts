/**
 * The one source of time for every decision the service makes: token expiry, session lifetime, the
 * refresh grace, client epochs, and the timestamps it stores. Stores are handed `now` (Lua ARGV, SQL
 * parameters) instead of reading their own clocks, and their TTLs only collect garbage; so a test that
 * moves this clock moves every decision with it, and nothing has to sleep.
 */
import type { Clock } from '@jwt-auth-service/verifier/feed'

export { monotonicOf, systemClock, type Clock } from '@jwt-auth-service/verifier/feed'

/**
 * A clock that tests set and advance; it starts at the system time unless told otherwise. Its monotonic
 * time runs on with performance.now() and jumps with advance(), never with set() (as a system clock that
 * is set does not move performance.now()): a test makes the feed's lag pass without a sleep, and a test
 * that only sets the wall clock does not freeze the lag, which would hide an outage.
 */
export interface SettableClock extends Clock {
  set(ms: number): void
  /** Moves the clock forward by `ms` milliseconds, monotonic time with it. */
  advance(ms: number): void
  monotonic(): number
}

export function settableClock(start: number = Date.now()): SettableClock {
  let current = start
  let advanced = 0
  return {
    now: () => current,
    monotonic: () => performance.now() + advanced,
    set(ms) {
      current = ms
    },
    advance(ms) {
      current += ms
      advanced += ms
    }
  }
}

/** Whole seconds, as JWT claims count time (RFC 7519 NumericDate). */
export const toSeconds = (ms: number): number => Math.floor(ms / 1000)

/** ISO-8601, as the API shows times. */
export const toIso = (ms: number): string => new Date(ms).toISOString()
