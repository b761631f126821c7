/**
 * The revocation set: keys with an expiry, kept as 64-bit fingerprints in open-addressed typed arrays.
 * What must hold: a key is live exactly while now < until, no key that was added (and not removed or
 * swept) is ever lost, whatever the collisions, growth, deletions and sweeps, and absent keys are not
 * reported present.
 */
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { ExpiringSet } from '@jwt-auth-service/verifier/feed'

/** Realistic keys: 'j:' and a 22-character base64url jti. */
const jtis = (n: number) => Array.from({ length: n }, () => `j:${randomBytes(16).toString('base64url')}`)

t.test('add, has, delete', async (t) => {
  const set = new ExpiringSet()
  set.add('j:a', 100)
  set.add('s:a', 100)
  t.equal(set.size, 2)
  t.ok(set.has('j:a', 50))
  t.ok(set.has('s:a', 50))
  t.notOk(set.has('j:b', 50), 'a key never added')
  t.notOk(set.has('a', 50), 'a key never added: the unprefixed one')
  t.equal(set.delete('j:a'), true)
  t.notOk(set.has('j:a', 50), 'gone once deleted')
  t.ok(set.has('s:a', 50), 'the other one stays')
  t.equal(set.delete('j:a'), false, 'deleting again: it was not there')
  t.equal(set.delete('j:never'), false)
  t.equal(set.size, 1)
})

t.test('expiry: live while now < until, and now == until is expired', async (t) => {
  const set = new ExpiringSet()
  set.add('j:x', 100)
  t.ok(set.has('j:x', 99))
  t.ok(set.has('j:x', 99.999))
  t.notOk(set.has('j:x', 100), 'at until')
  t.notOk(set.has('j:x', 101))
  set.add('j:y', 99.2) // rounded up to 100
  t.ok(set.has('j:y', 99.5))
  t.notOk(set.has('j:y', 100))
  t.throws(() => set.add('j:z', 0), RangeError, 'until 0 would read as an empty slot')
  t.throws(() => set.add('j:z', Number.NaN), RangeError)
  t.throws(() => set.add('j:z', 2 ** 32), RangeError, 'does not fit in 32 bits')
  t.notOk(set.has('j:z', 0), 'nothing was added by a refused add')
  t.equal(set.size, 2)
})

t.test('adding a key again keeps the later until', async (t) => {
  const set = new ExpiringSet()
  set.add('j:x', 200)
  set.add('j:x', 100)
  t.ok(set.has('j:x', 150), 'an earlier until does not shorten it')
  set.add('j:x', 300)
  t.ok(set.has('j:x', 250), 'a later one lengthens it')
  t.notOk(set.has('j:x', 300))
  t.equal(set.size, 1, 'one entry, not three')
})

t.test('deletion shifts colliding neighbours back: all of them stay findable', async (t) => {
  // Capacity 16 holds 12 keys without growing: long clusters, which wrap around the end of the array.
  let failures = 0
  for (let trial = 0; trial < 2000; trial++) {
    const set = new ExpiringSet(16)
    const keys = jtis(12)
    for (const key of keys) set.add(key, 1000)
    const bytes = set.bytes
    const order = [...keys].sort(() => Math.random() - 0.5)
    for (let i = 0; i < order.length; i++) {
      if (!set.delete(order[i]!)) failures++
      if (set.has(order[i]!, 0)) failures++
      for (const key of order.slice(i + 1)) if (!set.has(key, 999)) failures++
    }
    if (set.size !== 0 || set.bytes !== bytes) failures++
  }
  t.equal(failures, 0, 'every delete found its key and left the others findable')
})

t.test('against a Map: random adds, deletes and sweeps over a small table', async (t) => {
  // Odd lengths, non-ASCII, the empty key and keys that differ only by a trailing NUL.
  const universe = ['', '\u0000', '\u0000\u0000', 'é', 'j:é', 'j:😀', ...Array.from({ length: 34 }, (_, i) => `s:${i}`)]
  const model = new Map<string, number>()
  const set = new ExpiringSet(4)
  const random = (n: number) => Math.floor(Math.random() * n)
  let mismatches = 0
  let now = 1
  for (let step = 0; step < 20_000; step++) {
    const key = universe[random(universe.length)]!
    const op = random(10)
    if (op < 5) {
      const until = now + 1 + random(50)
      set.add(key, until)
      model.set(key, Math.max(model.get(key) ?? 0, until))
    } else if (op < 9) {
      if (set.delete(key) !== model.delete(key)) mismatches++
    } else {
      now += random(20)
      let expired = 0
      for (const [k, until] of model) {
        if (until <= now) {
          model.delete(k)
          expired++
        }
      }
      if (set.sweep(now) !== expired) mismatches++
    }
    if (set.size !== model.size) mismatches++
    for (const k of universe) if (set.has(k, now) !== (model.get(k) ?? 0) > now) mismatches++
  }
  t.equal(mismatches, 0, 'the set answered as the Map did, after every step')
})

t.test('growth keeps every entry', async (t) => {
  const set = new ExpiringSet(2)
  const initialBytes = set.bytes
  const keys = jtis(10_000)
  keys.forEach((key, i) => set.add(key, 1000 + i))
  t.equal(set.size, keys.length)
  t.ok(set.bytes > initialBytes * 1000, `grew (${set.bytes} bytes)`)
  t.ok(set.bytes <= 12 * 2 ** 14, 'twice over the load factor at most: 16384 slots of 12 bytes')
  t.equal(keys.filter((key, i) => !set.has(key, 999 + i)).length, 0, 'all found')
  t.equal(keys.filter((key, i) => set.has(key, 1000 + i)).length, 0, 'each with its own until')
})

t.test('sweep removes exactly the expired entries and keeps the others findable', async (t) => {
  const set = new ExpiringSet()
  const keys = jtis(20_000)
  const untilOf = (i: number) => 1 + (i % 100)
  keys.forEach((key, i) => set.add(key, untilOf(i)))
  const expired = keys.filter((_, i) => untilOf(i) <= 50)
  const live = keys.filter((_, i) => untilOf(i) > 50)

  t.equal(set.sweep(50), expired.length, 'the count of those with until <= now')
  t.equal(set.size, live.length)
  t.equal(expired.filter((key) => set.has(key, 0)).length, 0, 'the expired ones are gone (asked at a time they would be live)')
  t.equal(live.filter((key) => !set.has(key, 50)).length, 0, 'the others are all there')
  t.equal(set.sweep(50), 0, 'nothing more to sweep at the same time')

  const bytes = set.bytes
  t.equal(set.sweep(100), live.length, 'everything expired by 100')
  t.equal(set.size, 0)
  t.ok(set.bytes < bytes, 'the arrays shrank')
  t.equal(set.bytes, 1024 * 12, 'down to the initial capacity, not below')
  set.add('j:after', 200)
  t.ok(set.has('j:after', 150), 'still usable')
})

t.test('200k keys: none lost; 200k other keys: none found', async (t) => {
  const set = new ExpiringSet()
  const present = jtis(200_000)
  for (const key of present) set.add(key, 2_000_000_000)
  t.equal(set.size, present.length, 'no two fingerprints coincided')
  t.equal(present.filter((key) => !set.has(key, 1_700_000_000)).length, 0, 'none lost')
  const absent = jtis(200_000)
  t.equal(absent.filter((key) => set.has(key, 1_700_000_000)).length, 0, 'no false positive')
  t.equal(absent.filter((key) => set.delete(key)).length, 0, 'nor a delete of an absent key that succeeds')
  t.equal(set.size, present.length)
})

t.test('clear empties the set and returns to the initial capacity', async (t) => {
  const set = new ExpiringSet(64)
  const keys = jtis(1000)
  for (const key of keys) set.add(key, 100)
  t.ok(set.bytes > 64 * 12)
  set.clear()
  t.equal(set.size, 0)
  t.equal(set.bytes, 64 * 12)
  t.equal(keys.filter((key) => set.has(key, 0)).length, 0, 'none left')
  set.add(keys[0]!, 100)
  t.ok(set.has(keys[0]!, 50), 'usable after clear')
  t.equal(set.size, 1)
})
