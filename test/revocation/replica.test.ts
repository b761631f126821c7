import { test } from 'tap'
import { RevocationReplica } from '@jwt-auth-service/verifier/feed'

/** The replica's verdicts, by the markers tokens carry (stores/not-before.ts) and by the events applied. */
const NOW = 1_796_400_000_000 // ms
const G1 = 1_796_399_000_000_000 // µs: a generation that began 1,000 s before NOW
const G2 = G1 + 500_000_000 // one that began 500 s later (Redis lost its data)
const iat = Math.floor(NOW / 1000) - 10

function replica(): RevocationReplica {
  const replica = new RevocationReplica(1)
  replica.setGeneration(0, G1)
  return replica
}

test('tokens are judged by their generation: older refused, newer unknown to the replica, none the seconds rule', async (t) => {
  const r = replica()
  const user = { jti: 'j1', sid: 's1', iat }
  t.equal(r.verdict({ ...user, gen: G1 }, 0, NOW), 'active')
  t.equal(r.verdict({ ...user, gen: G1 - 1 }, 0, NOW), 'revoked', 'of an older generation')
  t.equal(r.verdict({ ...user, gen: G2 }, 0, NOW), 'unknown', 'of a generation the replica has not seen: only the store can tell')
  t.equal(r.verdict(user, 0, NOW), 'active', 'without the claim, issued after the generation\'s second')
  t.equal(r.verdict({ ...user, iat: G1 / 1e6 - 1 }, 0, NOW), 'revoked', 'without the claim, issued before its second')
  t.equal(new RevocationReplica(1).verdict({ ...user, gen: G1 }, 0, NOW), 'revoked', 'before the replica knows any generation')
})

test('revoked ids, ended sessions and restored rotations', async (t) => {
  const r = replica()
  r.apply({ kind: 'token', id: 'j1', until: NOW + 60_000 }, NOW)
  r.apply({ kind: 'session', id: 's2', until: NOW + 60_000 }, NOW)
  t.equal(r.verdict({ jti: 'j1', sid: 's1', iat, gen: G1 }, 0, NOW), 'revoked')
  t.equal(r.verdict({ jti: 'j2', sid: 's2', iat, gen: G1 }, 0, NOW), 'revoked', 'a token of an ended session')
  t.equal(r.verdict({ jti: 'j1', sid: 's1', iat, gen: G1 }, 0, NOW + 60_000), 'active', 'the entry lives until its token\'s exp')
  r.apply({ kind: 'restored', id: 'j1' }, NOW)
  t.equal(r.verdict({ jti: 'j1', sid: 's1', iat, gen: G1 }, 0, NOW), 'active', 'a rotation rolled back')
})

test('client epochs: a token below the client\'s epoch is refused; one without the claim by the epoch\'s second', async (t) => {
  const r = replica()
  const epoch = (Math.floor(NOW / 1000) + 1) * 1e6
  r.apply({ kind: 'client', id: 'billing', epoch, until: NOW + 900_000 }, NOW)
  const client = { jti: 'c1', client_id: 'billing', iat: Math.floor(NOW / 1000), gen: G1 }
  t.equal(r.verdict({ ...client, epoch: epoch - 1 }, 0, NOW), 'revoked', 'granted before the epoch, within the same second')
  t.equal(r.verdict({ ...client, epoch }, 0, NOW), 'active', 'granted under it')
  t.equal(r.verdict(client, 0, NOW), 'revoked', 'without the claim: issued in the second before the epoch\'s')
  t.equal(r.verdict({ ...client, iat: client.iat + 1 }, 0, NOW), 'active', 'without the claim: from the epoch\'s second on')
  r.apply({ kind: 'client', id: 'billing', epoch: epoch - 5, until: NOW + 900_000 }, NOW)
  t.equal(r.verdict({ ...client, epoch: epoch - 1 }, 0, NOW), 'revoked', 'an epoch never moves back')
})

// Found by the nemesis: after Redis lost its data, a client's first epoch of the new generation can lie below
// the epoch the replica kept from the old one (a rotation within a second of the loss); its new tokens were refused.
test('a new generation drops the old generation\'s client epochs', async (t) => {
  const r = replica()
  const rotated = (Math.floor(NOW / 1000) + 1) * 1e6
  r.apply({ kind: 'client', id: 'billing', epoch: rotated, until: NOW + 900_000 }, NOW)
  r.setGeneration(0, G2)
  const fresh = { jti: 'c2', client_id: 'billing', iat: Math.floor(NOW / 1000), gen: G2, epoch: NOW * 1000 + 300_000 }
  t.ok(fresh.epoch < rotated, 'the new epoch lies below the old one')
  t.equal(r.verdict(fresh, 0, NOW), 'active', 'a token of the new generation under its first epoch')
  r.setGeneration(0, G2)
  r.apply({ kind: 'client', id: 'billing', epoch: rotated + 1, until: NOW + 900_000 }, NOW)
  r.setGeneration(0, G2)
  t.equal(r.verdict(fresh, 0, NOW), 'revoked', 'the same generation again keeps its epochs')
})
