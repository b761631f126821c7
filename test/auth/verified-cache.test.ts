/**
 * The verifier keeps tokens it has verified (a token presented again costs a lookup, not a signature
 * check). What must hold: only the exact string that was verified is served from it, time is still
 * decided on every read, the cache is bounded, and its entries cannot be changed by a reader.
 */
import { test } from 'tap'
import { GenerationalCache } from '@jwt-auth-service/verifier/feed'
import { codeOf, login, openTestAuth, register } from './support.js'

test('a bounded cache: two generations, the least recently used half forgotten at once', async (t) => {
  const cache = new GenerationalCache<number>(2)
  cache.set('a', 1)
  cache.set('b', 2)
  cache.set('c', 3) // a and b become the previous generation
  t.equal(cache.get('a'), 1, 'found in the previous generation, and promoted')
  cache.set('d', 4) // c and a become the previous generation; b is forgotten
  t.equal(cache.get('b'), undefined, 'the least recently used is gone')
  t.same([cache.get('a'), cache.get('c'), cache.get('d')], [1, 3, 4])
})

test('a verified token: another string is verified afresh, expiry is decided on every read, claims are frozen', async (t) => {
  const { auth, clock } = await openTestAuth(t, 'embedded')
  const { token } = await login(auth, (await register(auth)).email)
  const claims = await auth.verifier.verifyUser(token)
  t.equal(await auth.verifier.verifyUser(token), claims, 'presented again: accepted, from the cache (the very same claims)')
  t.throws(() => {
    ;(claims as { sub: string }).sub = 'someone-else'
  }, 'the cached claims cannot be changed by a reader')

  const [header, payload, signature] = token.split('.') as [string, string, string]
  const flipped = `${signature.slice(0, -2)}${signature.at(-2) === 'A' ? 'B' : 'A'}${signature.at(-1)}`
  t.equal(await codeOf(auth.verifier.verifyUser(`${header}.${payload}.${flipped}`)), 'TOKEN_INVALID', 'one signature character changed')
  t.equal(await codeOf(auth.verifier.verifyUser(`${header}.${payload}.${signature} `)), 'TOKEN_INVALID', 'a trailing space')

  clock.set((claims.exp * 1000))
  t.equal(await codeOf(auth.verifier.verifyUser(token)), 'TOKEN_EXPIRED', 'at exp, by the clock, though the token is cached')
})
