/**
 * DPoP server nonces (RFC 9449 §8, §9): what passes, for how long, and where. No services.
 */
import { test } from 'tap'
import { settableClock } from '../../src/auth/clock.js'
import { createDpopNonces } from '../../src/auth/dpop-nonces.js'
import type { KeySet } from '../../src/keys/key-set.js'
import { generatePrivateKey, parseSigningKey, type SigningKey } from '../../src/keys/signing-key.js'

const WINDOW = 60
const key = (): SigningKey => parseSigningKey('ES256', generatePrivateKey('ES256'), 'test')
const keySet = (signing: SigningKey, ...others: SigningKey[]): KeySet =>
  ({ signing, byKid: new Map([signing, ...others].map((one) => [one.kid, one])), jwks: { keys: [] } })

test('a nonce passes in its window and the next, then no more', async (t) => {
  const clock = settableClock(Date.UTC(2026, 11, 7, 12, 0, 0))
  const nonces = createDpopNonces(keySet(key()), clock, WINDOW)
  const nonce = nonces.current()
  t.match(nonce, /^[A-Za-z0-9_-]{30}$/, 'RFC 9449 §8.1: NQCHARs only (base64url)')
  t.equal(nonces.current(), nonce, 'the same nonce for the whole window')
  t.ok(nonces.accepts(nonce))
  clock.advance(WINDOW * 1000)
  t.not(nonces.current(), nonce, 'a new nonce in the next window')
  t.ok(nonces.accepts(nonce), 'the last window\'s nonce still passes')
  clock.advance(WINDOW * 1000)
  t.notOk(nonces.accepts(nonce), 'two windows on, it is refused')
  clock.set(Date.UTC(2026, 11, 7, 11, 0, 0))
  t.notOk(nonces.accepts(nonce), 'a nonce from the future is refused')
})

test('instances that share the signing key agree; another deployment\'s nonces are refused; a rotation keeps both sides', async (t) => {
  const clock = settableClock()
  const [old, next, foreign] = [key(), key(), key()]
  const a = createDpopNonces(keySet(old), clock, WINDOW)
  const b = createDpopNonces(keySet(old), clock, WINDOW)
  t.ok(b.accepts(a.current()), 'B takes what A issued: no shared store needed')
  t.notOk(createDpopNonces(keySet(foreign), clock, WINDOW).accepts(a.current()), 'another signing key: refused')

  // A rolling key rotation: A still signs with the old key and publishes the next; B signs with the next and keeps the old.
  const before = createDpopNonces(keySet(old, next), clock, WINDOW)
  const after = createDpopNonces(keySet(next, old), clock, WINDOW)
  t.ok(after.accepts(before.current()), 'the new side takes the old side\'s nonce')
  t.ok(before.accepts(after.current()), 'and the other way round')
})

test('what is not a nonce of ours is refused', async (t) => {
  const clock = settableClock()
  const nonces = createDpopNonces(keySet(key()), clock, WINDOW)
  const nonce = nonces.current()
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  /** The character at `index` replaced by the one whose 6 bits differ in the lowest. */
  const flipAt = (index: number) => `${nonce.slice(0, index)}${ALPHABET[ALPHABET.indexOf(nonce[index]!) ^ 1]}${nonce.slice(index + 1)}`
  const cases: [string, unknown][] = [
    ['none', undefined],
    ['a number', 12345],
    ['an object', { nonce }],
    ['empty', ''],
    ['its MAC altered', flipAt(20)],
    ['its window altered', flipAt(3)],
    ['too short', nonce.slice(1)],
    ['too long', `${nonce}A`],
    ['a character base64url skips', `${nonce.slice(0, 10)}*${nonce.slice(11)}`],
    // 22 bytes take 30 characters, the last of which carries 4 unused bits: the same bytes, spelled otherwise.
    ['the same bytes spelled otherwise', flipAt(29)],
    ['padding', `${nonce.slice(0, -2)}==`]
  ]
  for (const [description, value] of cases) t.notOk(nonces.accepts(value), description)
  t.ok(nonces.accepts(nonce), 'and the nonce itself passes')
})
