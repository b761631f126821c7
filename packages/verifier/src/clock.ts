/**
 * Time, as a verifier judges it: expiry and revocations by the wall clock (`now`), the feed's staleness by
 * a clock that nobody sets back (`monotonic`). Tests hand in a clock of their own instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number
  /**
   * Elapsed milliseconds on a clock that nobody sets back (performance.now()): what staleness is measured
   * by (the revocation feed's lag), never the wall clock. Without it, performance.now().
   */
  monotonic?(): number
}

/** A monotonic clock in milliseconds (performance.now by default): what staleness is measured by. */
export type Monotonic = () => number

/** Production: the system clock. */
export const systemClock: Clock = { now: () => Date.now(), monotonic: () => performance.now() }

/** The clock's monotonic time, or performance.now(). */
export const monotonicOf = (clock: Clock): Monotonic => clock.monotonic?.bind(clock) ?? (() => performance.now())
