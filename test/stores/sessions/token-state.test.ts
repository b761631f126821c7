/**
 * The codec of a token's deny-list state (src/stores/sessions/token-state.ts), which both session stores
 * write and the embedded one reads.
 */
import { test } from 'tap'
import { decodeTokenState, encodeTokenState, pendingState, rotatedState, tokenStateAt, type TokenState } from '../../../src/stores/sessions/token-state.js'

const rotation = { id: '4711', now: 1_000, graceMs: 30_000, pendingUntil: 6_000, sealedChild: 'sealed', usableUntil: 3_600_000, childJti: 'child' }

test('every state reads back as written', async (t) => {
  const states: TokenState[] = [
    { kind: 'pending', id: '4711', pendingUntil: 6_000 },
    { kind: 'rotated', graceEnds: 31_000, id: '4711' },
    { kind: 'rotated', graceEnds: 31_000 },
    { kind: 'ending' },
    { kind: 'revoked' }
  ]
  for (const state of states) t.same(decodeTokenState(encodeTokenState(state)), state, encodeTokenState(state))
})

test("an attempt's values name the attempt", async (t) => {
  t.equal(pendingState(rotation), 'p:4711:6000')
  t.equal(rotatedState(rotation), 'x:31000.4711', 'the grace end, then the attempt')
  t.not(rotatedState({ ...rotation, id: '4712' }), rotatedState(rotation), 'another attempt writes another value')
})

test('a pending rotation past its bound is as if absent; no other state expires by itself', async (t) => {
  t.same(tokenStateAt('p:4711:6000', 5_999), { kind: 'pending', id: '4711', pendingUntil: 6_000 })
  t.equal(tokenStateAt('p:4711:6000', 6_000), undefined)
  t.equal(tokenStateAt(undefined, 0), undefined)
  t.same(tokenStateAt('x:31000.4711', 99_999), { kind: 'rotated', graceEnds: 31_000, id: '4711' }, 'rotated stays refused after its grace')
  t.same(tokenStateAt('l', 99_999), { kind: 'ending' })
})

test('a value nobody writes is read as revoked', async (t) => {
  for (const value of ['', 'x', 'x:', 'x:abc', 'p:4711', 'p::6000', 'p:4711:6000:1', 'R', 'L', 'revoked', 'x:31000.', ' x:31000']) {
    t.same(decodeTokenState(value), { kind: 'revoked' }, JSON.stringify(value))
  }
})
