/**
 * A client's epoch and a feed shard's generation are markers that tokens carry (claims `epoch` and `gen`):
 * Redis' own time in µs when the store set them, compared with the current marker, never with a clock.
 * Tokens issued before markers were written in µs carry none, and keep the older rule until they expire:
 * their `iat` against the marker's second.
 */

/** The second a marker falls in, whatever unit it was written in (by its magnitude): s, ms or µs. */
export function markerSeconds(marker: number): number {
  if (marker < 1e11) return marker
  if (marker < 1e14) return Math.floor(marker / 1e3)
  return Math.floor(marker / 1e6)
}
