import { test } from 'tap'
import { check, worstAcceptance } from '../../scripts/nemesis/checker.js'
import type { Fault, History, Op, TokenRecord } from '../../scripts/nemesis/history.js'

/** The nemesis's checker on histories written by hand: each property caught, and nothing flagged that the bound allows. */
const HOUR = 3_600_000

function history(ops: Op[], tokens: TokenRecord[], faults: Fault[] = []): History {
  return {
    seed: 1,
    durationS: 1,
    targets: [
      { name: 'strict', boundMs: 0 },
      { name: 'replica', boundMs: 250 }
    ],
    ops,
    tokens,
    faults,
    wallToMonotonic: 0
  }
}

let id = 0
const op = (fields: Partial<Op> & Pick<Op, 'kind' | 'sentAt'>): Op => ({ id: id++, target: 'A', answeredAt: fields.sentAt + 5, status: 200, ...fields })

/** A user logged in at 0 (token t1, session s1) and a second session (token t2, s2) of the same user. */
function sessions(): { ops: Op[]; tokens: TokenRecord[] } {
  const login1 = op({ kind: 'login', sentAt: 0, produced: 't1' })
  const login2 = op({ kind: 'login', sentAt: 10, produced: 't2' })
  return {
    ops: [login1, login2],
    tokens: [
      { jti: 't1', kind: 'user', owner: 'u', sid: 's1', expMs: HOUR, issuedBy: login1.id },
      { jti: 't2', kind: 'user', owner: 'u', sid: 's2', expMs: HOUR, issuedBy: login2.id }
    ]
  }
}

test('a clean history has no violation', async (t) => {
  const { ops, tokens } = sessions()
  ops.push(op({ kind: 'verify', target: 'replica', sentAt: 100, token: 't1' }))
  ops.push(op({ kind: 'logout', sentAt: 200, token: 't1' })) // answered at 205
  ops.push(op({ kind: 'verify', target: 'replica', sentAt: 300, token: 't1' })) // accepted within the bound: allowed
  ops.push(op({ kind: 'verify', target: 'strict', sentAt: 300, token: 't1', status: 401 }))
  ops.push(op({ kind: 'verify', target: 'strict', sentAt: 300, token: 't2' }))
  t.same(check(history(ops, tokens)), [])
  t.equal(worstAcceptance(history(ops, tokens)).get('replica'), 95, 'the latest acceptance: 95 ms after the logout was answered')
})

test('a revoked token accepted past its target\'s bound is a violation, with the excerpt that shows it', async (t) => {
  const { ops, tokens } = sessions()
  ops.push(op({ kind: 'logout', sentAt: 200, token: 't1' }))
  ops.push(op({ kind: 'verify', target: 'replica', sentAt: 460, token: 't1' }))
  ops.push(op({ kind: 'verify', target: 'strict', sentAt: 206, token: 't1' }))
  const faults: Fault[] = [{ kind: 'pause', target: 'A', startedAt: 150, endedAt: 450 }]
  const violations = check(history(ops, tokens, faults))
  t.same(violations.map((v) => [v.property, v.op.target]), [['revoked token accepted', 'replica'], ['revoked token accepted', 'strict']].sort(), 'both, whatever the order')
  const replica = violations.find((v) => v.op.target === 'replica')!
  t.match(replica.detail, /accepted 255 ms after the revocation was answered \(bound 250 ms\)/)
  t.match(replica.excerpt.join('\n'), /login at A[^\n]*\n[^\n]*FAULT pause A[^\n]*\n[^\n]*logout at A[^\n]*\n[^\n]*verify at replica/, 'the excerpt: issue, fault, revocation, acceptance, in time order')
})

test('every revoking call counts: refresh, password change, client revocation, rotation, and a loss of data', async (t) => {
  const { ops, tokens } = sessions()
  const grant = op({ kind: 'grant', sentAt: 20, produced: 'c1', client: 'c' })
  const late = op({ kind: 'grant', sentAt: 590, produced: 'c2', client: 'c' })
  ops.push(grant, late)
  tokens.push({ jti: 'c1', kind: 'client', owner: 'c', expMs: HOUR, issuedBy: grant.id }, { jti: 'c2', kind: 'client', owner: 'c', expMs: HOUR, issuedBy: late.id })
  ops.push(op({ kind: 'password', sentAt: 100, token: 't2' })) // ends session s1, answered at 105
  ops.push(op({ kind: 'rotate', target: 'admin', sentAt: 100, client: 'c' }))
  ops.push(op({ kind: 'verify', target: 'strict', sentAt: 106, token: 't1' }))
  ops.push(op({ kind: 'verify', target: 'strict', sentAt: 106, token: 'c1' }))
  ops.push(op({ kind: 'verify', target: 'strict', sentAt: 106, token: 't2' })) // the changing session stays: no violation
  ops.push(op({ kind: 'verify', target: 'strict', sentAt: 600, token: 'c2' })) // granted after the rotation: no violation
  const flagged = check(history(ops, tokens)).map((v) => v.op.token).sort()
  t.same(flagged, ['c1', 't1'], 'the other session\'s token and the rotated client\'s token')

  const loss = sessions()
  loss.ops.push(op({ kind: 'verify', target: 'replica', sentAt: 700, token: 't1' }))
  loss.ops.push(op({ kind: 'verify', target: 'replica', sentAt: 700, token: 't2', status: 401 }))
  const flush: Fault[] = [{ kind: 'flush', target: 'redis', startedAt: 400, endedAt: 420 }]
  t.same(check(history(loss.ops, loss.tokens, flush)).map((v) => [v.property, v.op.token]), [['revoked token accepted', 't1']], 'after Redis lost its data, an older token may be refused and must not be accepted')
})

test('a good token refused with 401 is a violation; after a call that may have revoked it, it is not', async (t) => {
  const { ops, tokens } = sessions()
  ops.push(op({ kind: 'verify', target: 'replica', sentAt: 100, token: 't1', status: 401, code: 'TOKEN_REVOKED' }))
  ops.push(op({ kind: 'logout', sentAt: 200, token: 't2', status: 0 })) // no answer: it may have happened
  ops.push(op({ kind: 'verify', target: 'replica', sentAt: 300, token: 't2', status: 401 }))
  ops.push(op({ kind: 'verify', target: 'replica', sentAt: 300, token: 't1', status: 503 }))
  const violations = check(history(ops, tokens))
  t.same(violations.map((v) => [v.property, v.op.token]), [['good token refused', 't1']])
  t.same(check(history([...ops, op({ kind: 'verify', target: 'replica', sentAt: 400, token: 't1', status: 503, noRetryAfter: true })], tokens)).map((v) => v.property).sort(), ['503 without Retry-After', 'good token refused'])
})

test('a 503 long after every fault healed is a violation: the parts must recover', async (t) => {
  const { ops, tokens } = sessions()
  const faults: Fault[] = [{ kind: 'kill', target: 'A', startedAt: 100, endedAt: 1_000 }]
  ops.push(op({ kind: 'verify', target: 'replica', sentAt: 1_500, token: 't1', status: 503, code: 'STORE_UNAVAILABLE' })) // recovering: allowed
  ops.push(op({ kind: 'verify', target: 'replica', sentAt: 4_100, token: 't1', status: 503, code: 'FEED_STALE' })) // a moment's staleness
  ops.push(op({ kind: 'verify', target: 'replica', sentAt: 4_300, token: 't1' }))
  ops.push(op({ kind: 'verify', target: 'strict', sentAt: 4_500, token: 't1', status: 503, code: 'FEED_STALE' }))
  ops.push(op({ kind: 'verify', target: 'strict', sentAt: 5_200, token: 't2', status: 503, code: 'FEED_STALE' }))
  ops.push(op({ kind: 'verify', target: 'strict', sentAt: 5_600, token: 't2', status: 503, code: 'FEED_STALE' }))
  const violations = check(history(ops, tokens, faults))
  t.same(violations.map((v) => [v.property, v.op.sentAt]), [['not recovered', 5_600]], 'one target refused everything for over a second, long after the fault')
  t.match(violations[0]!.detail, /strict answered every verification 503 FEED_STALE for 1100 ms, from 4600 ms after the last fault healed/)
})
