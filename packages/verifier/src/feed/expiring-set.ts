/**
 * A set of string keys, each live until a time in seconds, held in typed arrays rather than a Map: a slot
 * is a 64-bit fingerprint of the key and its expiry, 12 bytes, and the key itself is not kept. Open
 * addressing with linear probing; deletion by backward shift, so there are no tombstones to clean up.
 * An absent key is reported present only when its fingerprint equals a live one's (about size / 2^64).
 */
import { getRandomValues } from 'node:crypto'

// Linear probing stays short (about 2.5 probes for a hit, 8.5 for a miss) up to 3/4 full. Below 3/16
// after a sweep the arrays are halved, so that a set hovering around a boundary does not resize each time.
const MAX_LOAD = 0.75
const MIN_LOAD = MAX_LOAD / 4
const MAX_UNTIL = 0xffffffff

// The two halves of the fingerprint of the last key hashed (no allocation per lookup).
let hashHi = 0
let hashLo = 0

/**
 * Two different 32-bit hashes in one pass over the key's UTF-16 code units, two units per block:
 * MurmurHash3 for `lo` (which also picks the slot) and an xxHash32 round for `hi`. The random seeds
 * are mixed into every block, not only into the start, so that MurmurHash3's seed-independent
 * collisions do not carry over.
 */
function hash(key: string, seedLo: number, seedHi: number): void {
  const length = key.length
  let lo = seedLo
  let hi = seedHi
  let i = 0
  for (; i + 1 < length; i += 2) {
    const block = key.charCodeAt(i) | (key.charCodeAt(i + 1) << 16)
    lo = murmurRound(lo, block ^ seedHi)
    hi = xxRound(hi, block ^ seedLo)
  }
  if (i < length) {
    const block = key.charCodeAt(i)
    lo = murmurRound(lo, block ^ seedHi)
    hi = xxRound(hi, block ^ seedLo)
  }
  // The length keeps keys that differ only by trailing NUL units apart.
  lo ^= length
  lo ^= lo >>> 16
  lo = Math.imul(lo, 0x85ebca6b)
  lo ^= lo >>> 13
  lo = Math.imul(lo, 0xc2b2ae35)
  hashLo = (lo ^ (lo >>> 16)) >>> 0
  hi ^= length
  hi ^= hi >>> 15
  hi = Math.imul(hi, 0x85ebca77)
  hi ^= hi >>> 13
  hi = Math.imul(hi, 0xc2b2ae3d)
  hashHi = (hi ^ (hi >>> 16)) >>> 0
}

function murmurRound(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51)
  k = (k << 15) | (k >>> 17)
  h ^= Math.imul(k, 0x1b873593)
  h = (h << 13) | (h >>> 19)
  return (Math.imul(h, 5) + 0xe6546b64) | 0
}

function xxRound(h: number, k: number): number {
  h = (h + Math.imul(k, 0x85ebca77)) | 0
  h = (h << 13) | (h >>> 19)
  return Math.imul(h, 0x9e3779b1)
}

export class ExpiringSet {
  // Random per instance: keys cannot be chosen from outside to collide.
  private readonly seedLo: number
  private readonly seedHi: number
  private readonly minCapacity: number
  private mask: number
  private count = 0
  private hi: Uint32Array
  private lo: Uint32Array
  /** Seconds; 0 marks an empty slot. */
  private until: Uint32Array

  constructor(initialCapacity = 1024) {
    if (!Number.isInteger(initialCapacity) || initialCapacity < 1 || initialCapacity > 2 ** 30) {
      throw new RangeError(`initialCapacity must be an integer in 1..2^30, got ${initialCapacity}`)
    }
    const seeds = getRandomValues(new Uint32Array(2))
    this.seedLo = seeds[0]!
    this.seedHi = seeds[1]!
    // A power of two, so that a slot is `lo & mask`; at least 2, so that one entry leaves an empty slot.
    this.minCapacity = Math.max(2, 2 ** Math.ceil(Math.log2(initialCapacity)))
    this.mask = this.minCapacity - 1
    this.hi = new Uint32Array(this.minCapacity)
    this.lo = new Uint32Array(this.minCapacity)
    this.until = new Uint32Array(this.minCapacity)
  }

  get size(): number {
    return this.count
  }

  get bytes(): number {
    return this.hi.byteLength + this.lo.byteLength + this.until.byteLength
  }

  /** Adds key until `untilSeconds` (exclusive: live while nowSeconds < untilSeconds); an existing entry keeps the later of the two. */
  add(key: string, untilSeconds: number): void {
    const until = Math.ceil(untilSeconds)
    // 0 would read as an empty slot; above 2^32 - 1 would wrap.
    if (!(until >= 1 && until <= MAX_UNTIL)) throw new RangeError(`untilSeconds out of range: ${untilSeconds}`)
    hash(key, this.seedLo, this.seedHi)
    const slot = this.find(hashHi, hashLo)
    if (this.until[slot] !== 0) {
      if (until > this.until[slot]!) this.until[slot] = until
      return
    }
    this.hi[slot] = hashHi
    this.lo[slot] = hashLo
    this.until[slot] = until
    if (++this.count > (this.mask + 1) * MAX_LOAD) this.resize((this.mask + 1) * 2)
  }

  /** True while key is present and nowSeconds < its until. Probability of a false positive for an absent key: about size / 2^64 (fingerprint collision), never a false negative. */
  has(key: string, nowSeconds: number): boolean {
    hash(key, this.seedLo, this.seedHi)
    const until = this.until[this.find(hashHi, hashLo)]!
    return until !== 0 && nowSeconds < until
  }

  /** Removes key; true when it was present. */
  delete(key: string): boolean {
    hash(key, this.seedLo, this.seedHi)
    const slot = this.find(hashHi, hashLo)
    if (this.until[slot] === 0) return false
    this.remove(slot)
    return true
  }

  /** Removes every entry whose until <= nowSeconds; returns how many. Rebuilds in place or into new arrays, O(capacity). */
  sweep(nowSeconds: number): number {
    const until = this.until
    const before = this.count
    // In place. A removal shifts later entries of the cluster back, so slot i is looked at again. An
    // entry shifted from the start of the array into its end (a cluster that wraps) is looked at twice,
    // which is harmless; an entry not yet looked at only ever moves to a slot >= i.
    for (let i = 0; i <= this.mask; ) {
      const u = until[i]!
      if (u !== 0 && u <= nowSeconds) this.remove(i)
      else i++
    }
    let capacity = this.mask + 1
    while (capacity > this.minCapacity && this.count < capacity * MIN_LOAD) capacity /= 2
    if (capacity !== this.mask + 1) this.resize(capacity)
    return before - this.count
  }

  clear(): void {
    this.count = 0
    if (this.mask + 1 === this.minCapacity) {
      this.until.fill(0)
      return
    }
    this.mask = this.minCapacity - 1
    this.hi = new Uint32Array(this.minCapacity)
    this.lo = new Uint32Array(this.minCapacity)
    this.until = new Uint32Array(this.minCapacity)
  }

  /** The slot holding this fingerprint, or the empty slot where it would go. */
  private find(hi: number, lo: number): number {
    const { mask, until } = this
    const his = this.hi
    const los = this.lo
    let slot = lo & mask
    while (until[slot] !== 0 && (los[slot] !== lo || his[slot] !== hi)) slot = (slot + 1) & mask
    return slot
  }

  /** Empties `slot` and moves back the entries after it whose probe path crossed it. */
  private remove(slot: number): void {
    const { hi, lo, until, mask } = this
    let hole = slot
    for (let next = (slot + 1) & mask; until[next] !== 0; next = (next + 1) & mask) {
      // An entry may move into the hole when the hole lies between its home slot and where it sits.
      const home = lo[next]! & mask
      if (((next - home) & mask) >= ((next - hole) & mask)) {
        hi[hole] = hi[next]!
        lo[hole] = lo[next]!
        until[hole] = until[next]!
        hole = next
      }
    }
    until[hole] = 0
    this.count--
  }

  private resize(capacity: number): void {
    const { hi, lo, until } = this
    const mask = capacity - 1
    this.mask = mask
    this.hi = new Uint32Array(capacity)
    this.lo = new Uint32Array(capacity)
    this.until = new Uint32Array(capacity)
    for (let i = 0; i < until.length; i++) {
      if (until[i] === 0) continue
      // Fingerprints are distinct, so the first empty slot from home is the place.
      let slot = lo[i]! & mask
      while (this.until[slot] !== 0) slot = (slot + 1) & mask
      this.hi[slot] = hi[i]!
      this.lo[slot] = lo[i]!
      this.until[slot] = until[i]!
    }
  }
}
