/** The rules the service and the library share (src/library/token-profile.ts), case by case. */
import { test } from 'tap'
import { bearerTokenOf, missingScopes, normalizedTyp } from '../../src/library/token-profile.js'

test('bearerTokenOf: the token, no credentials (undefined), or malformed ones (null)', async (t) => {
  const cases: [string | undefined, string | undefined | null][] = [
    ['Bearer abc.def.ghi', 'abc.def.ghi'],
    ['bearer abc', 'abc'],
    ['BEARER   abc', 'abc'],
    ['Bearer abc  ', 'abc'],
    [undefined, undefined],
    ['', undefined],
    ['Basic dXNlcjpwYXNz', undefined],
    ['Bearerabc', undefined],
    ['Bearer', null],
    ['Bearer ', null],
    ['Bearer a b', null],
    ['Bearer\tabc', null],
    [' Bearer abc', undefined]
  ]
  for (const [header, expected] of cases) t.equal(bearerTokenOf(header), expected, JSON.stringify(header))
})

test('normalizedTyp: without case and without application/', async (t) => {
  t.equal(normalizedTyp('JWT'), 'jwt')
  t.equal(normalizedTyp('application/at+JWT'), 'at+jwt')
  t.equal(normalizedTyp('at+jwt'), 'at+jwt')
  t.equal(normalizedTyp(undefined), '')
  t.equal(normalizedTyp(42), '')
})

test('missingScopes: what the scope claim lacks, in the order asked', async (t) => {
  t.same(missingScopes('a b c', ['c', 'a']), [])
  t.same(missingScopes('a b', ['c', 'a', 'd']), ['c', 'd'])
  t.same(missingScopes(undefined, ['a']), ['a'])
  t.same(missingScopes('', []), [])
  t.same(missingScopes('ab', ['a']), ['a'], 'whole scope tokens, not prefixes')
})
