/**
 * Memory and lookup speed of the revocation set (or, with --map, of a plain Map<string, number>) holding
 * N entries with realistic keys ('j:' + 22 base64url characters). Run in a fresh process, with
 * --expose-gc for figures after a collection:
 *   node --expose-gc dist/scripts/revocation-memory.js [N] [--map]
 *   npx tsx --expose-gc scripts/revocation-memory.ts [N] [--map]
 * Prints JSON: rssMb is the process's RSS with the entries held, bytesPerEntry is the set's arrays
 * (for a Map, the growth of heapUsed + arrayBuffers) per entry.
 */
import { parseArgs } from 'node:util'
import { ExpiringSet } from '@jwt-auth-service/verifier/feed'

const { values, positionals } = parseArgs({ allowPositionals: true, options: { map: { type: 'boolean', default: false } } })
const entries = positionals[0] === undefined ? 1_000_000 : Number(positionals[0])
if (!Number.isInteger(entries) || entries < 1) {
  console.error('usage: revocation-memory [N] [--map]')
  process.exit(2)
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** Keys from a seeded generator, so the keys that were added can be made again without keeping them. */
function keys(seed: number): () => string {
  let state = seed
  const buffer = Buffer.from('j:' + 'A'.repeat(22), 'latin1')
  return () => {
    for (let i = 2; i < buffer.length; i++) {
      // mulberry32
      state = (state + 0x6d2b79f5) | 0
      let z = Math.imul(state ^ (state >>> 15), state | 1)
      z ^= z + Math.imul(z ^ (z >>> 7), z | 61)
      buffer[i] = ALPHABET.charCodeAt(((z ^ (z >>> 14)) >>> 0) & 63)
    }
    // A flat string, as a key sliced out of a parsed token would be.
    return buffer.toString('latin1')
  }
}

async function measure(): Promise<{ rss: number; heap: number }> {
  // Array buffers are freed after the collection that finds them dead, not during it: collect, let the
  // freeing run, collect again.
  globalThis.gc?.()
  await new Promise((resolve) => setTimeout(resolve, 100))
  globalThis.gc?.()
  const usage = process.memoryUsage()
  return { rss: usage.rss, heap: usage.heapUsed + usage.arrayBuffers }
}

const PRESENT_SEED = 1
const ABSENT_SEED = 2
const now = Math.floor(Date.now() / 1000)
const set = new ExpiringSet()
const map = new Map<string, number>()
const has = values.map ? (key: string) => (map.get(key) ?? 0) > now : (key: string) => set.has(key, now)

const before = await measure()
const next = keys(PRESENT_SEED)
for (let i = 0; i < entries; i++) {
  const until = now + 900 + (i % 3600)
  if (values.map) map.set(next(), until)
  else set.add(next(), until)
}
const after = await measure()

// Lookups: as many present keys as absent ones, made before the clock starts.
const sample = Math.min(entries, 200_000)
const makePresent = keys(PRESENT_SEED)
const makeAbsent = keys(ABSENT_SEED)
const lookups: string[] = []
for (let i = 0; i < sample; i++) lookups.push(makePresent(), makeAbsent())
let found = 0
let done = 0
const start = process.hrtime.bigint()
let elapsed = 0
while (elapsed < 1e9) {
  for (const key of lookups) if (has(key)) found++
  done += lookups.length
  elapsed = Number(process.hrtime.bigint() - start)
}
const rounds = done / lookups.length

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10
console.log(
  JSON.stringify({
    kind: values.map ? 'Map<string, number>' : 'ExpiringSet',
    entries,
    rssMb: mb(after.rss),
    rssBeforeMb: mb(before.rss),
    heapAndBuffersGrowthMb: mb(after.heap - before.heap),
    bytesPerEntry: Math.round((values.map ? after.heap - before.heap : set.bytes) / entries * 10) / 10,
    lookupsPerSecond: Math.round(done / (elapsed / 1e9)),
    // Every present key found, no absent key found: sample per round.
    lookupsCorrect: found === sample * rounds,
    gcExposed: globalThis.gc !== undefined
  })
)
