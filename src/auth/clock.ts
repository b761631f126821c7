/**
 * The one source of time for every decision the service makes: token expiry, session lifetime, the
 * refresh grace, client epochs, and the timestamps it stores. Stores are handed `now` (Lua ARGV, SQL
 * parameters) instead of reading their own clocks, and their TTLs only collect garbage; so a test that
 * moves this clock moves every decision with it, and nothing has to sleep.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number
}

/** Production: the system clock. */
export const systemClock: Clock = { now: () => Date.now() }

/** A clock that tests set and advance; it starts at the system time unless told otherwise. */
export interface SettableClock extends Clock {
  set(ms: number): void
  /** Moves the clock forward by `ms` milliseconds. */
  advance(ms: number): void
}

export function settableClock(start: number = Date.now()): SettableClock {
  let current = start
  return {
    now: () => current,
    set(ms) {
      current = ms
    },
    advance(ms) {
      current += ms
    }
  }
}

/** Whole seconds, as JWT claims count time (RFC 7519 NumericDate). */
export const toSeconds = (ms: number): number => Math.floor(ms / 1000)

/** ISO-8601, as the API shows times. */
export const toIso = (ms: number): string => new Date(ms).toISOString()
