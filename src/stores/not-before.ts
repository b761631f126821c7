/**
 * Not-befores as markers that tokens carry, not as times that tokens are compared with.
 *
 * A client's epoch (client-tokens/) and a feed shard's generation (the verifier package's feed/protocol.ts) are values the
 * store sets: Redis' own time in µs when it set them, and a new epoch is above every older one even
 * within one µs. Every token carries the ones it was issued under (claims `epoch` and `gen`), and a
 * token whose marker is older than the current one is refused. No clock is compared with another:
 * two changes within one second are told apart, a token from the very second in which Redis lost its
 * data is refused, and instances whose clocks differ agree.
 *
 * Tokens issued before this rule carry no marker. They keep the rule they were issued under, their
 * `iat` against the marker's second, until they expire: markerSeconds (the package's feed/markers.ts) also reads the markers
 * written before they were in µs (a client epoch in seconds, a generation in milliseconds).
 */

/**
 * A forgotten client's new epoch, `now` in ms (µs): no earlier than the start of the next second, so that
 * a token without the claim issued in this second is refused too (its iat is before it); and above the
 * previous epoch, so that a token that carries that one is refused.
 */
export function nextEpoch(now: number, previous: number | undefined): number {
  return Math.max((Math.floor(now / 1000) + 1) * 1e6, (previous ?? 0) + 1)
}
