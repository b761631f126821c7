/** The rules the service and @jwt-auth-service/verifier share (packages/verifier/src/token-profile.ts), case by case. */
import { test } from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { bearerTokenOf, dpopProofOf, missingScopes, normalizedTyp, presentedTokenOf } from '@jwt-auth-service/verifier'
import { actorDepth, claimsFitKind, delegatedChecks, MAX_ACTOR_DEPTH, REQUIRED_CLAIMS, sessionEndMs, tokenKind, tokenKindOf } from '@jwt-auth-service/verifier/feed'

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

test('presentedTokenOf and dpopProofOf: either scheme (RFC 9449 §7.1), and one proof only', async (t) => {
  t.same(presentedTokenOf('Bearer abc.def.ghi'), { token: 'abc.def.ghi', scheme: 'bearer' })
  t.same(presentedTokenOf('dpop  abc.def.ghi '), { token: 'abc.def.ghi', scheme: 'dpop' }, 'the scheme without case, spaces around')
  t.equal(presentedTokenOf(undefined), undefined, 'no credentials')
  t.equal(presentedTokenOf('Basic dXNlcjpwYXNz'), undefined, 'another scheme is no token')
  for (const malformed of ['DPoP', 'DPoP ', 'DPoP a b', 'DPoP a,b', 'Bearer', 'DPoPabc']) {
    t.equal(presentedTokenOf(malformed), malformed === 'DPoPabc' ? undefined : null, JSON.stringify(malformed))
  }
  t.equal(dpopProofOf('a.b.c'), 'a.b.c')
  t.equal(dpopProofOf(undefined), undefined)
  t.equal(dpopProofOf('a.b.c, d.e.f'), null, 'two headers, joined by Node')
  t.equal(dpopProofOf(['a.b.c', 'd.e.f']), null)
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

test('tokenKindOf: a kind by typ, and none for any other typ', async (t) => {
  t.equal(tokenKindOf('JWT'), 'user')
  t.equal(tokenKindOf('application/at+jwt'), 'client')
  t.equal(tokenKindOf('AT+JWT'), 'client')
  for (const typ of [undefined, '', 'dpop+jwt', 'logout+jwt', 'at+jwt ', 42]) t.equal(tokenKindOf(typ), undefined, JSON.stringify(typ))
})

test("claimsFitKind: a user's token names its session, a client's its client and scope", async (t) => {
  const user = { iss: 'i', sub: 'u1', iat: 1, exp: 2, jti: 'j', sid: 's', auth_time: 1 }
  const client = { iss: 'i', sub: 'billing', aud: 'a', iat: 1, exp: 2, jti: 'j', client_id: 'billing', scope: 'read' }
  t.ok(claimsFitKind('user', user))
  t.ok(claimsFitKind('client', client))
  t.ok(claimsFitKind('user', { ...user, gen: 1_700_000_000_000_000 }), 'with a generation marker')
  t.ok(claimsFitKind('client', { ...client, epoch: 1_700_000_000_000_001 }), 'with an epoch marker')
  const refused: [string, 'user' | 'client', Record<string, unknown>][] = [
    ['a client token as a user token', 'user', client],
    ['a user token as a client token', 'client', user],
    ['client_id other than sub', 'client', { ...client, client_id: 'orders' }],
    ['no scope', 'client', { ...client, scope: undefined }],
    ['auth_time not an integer', 'user', { ...user, auth_time: '1' }],
    ['exp not an integer', 'user', { ...user, exp: 2.5 }],
    ['a generation that is no marker', 'user', { ...user, gen: 'x' }],
    ['an epoch that is no marker', 'client', { ...client, epoch: 1.5 }],
    ['no jti', 'client', { ...client, jti: undefined }]
  ]
  for (const [name, kind, payload] of refused) t.notOk(claimsFitKind(kind, payload), name)
  for (const kind of ['user', 'client'] as const) {
    for (const claim of REQUIRED_CLAIMS[kind].filter((name) => name !== 'iss' && name !== 'aud')) {
      t.notOk(claimsFitKind(kind, { ...(kind === 'user' ? user : client), [claim]: undefined }), `${kind}: without ${claim}`)
    }
  }
})

test("a delegated token (token exchange): an at+jwt with act, its acting client's, and where it came from", async (t) => {
  const origin = { sub: 'ada', sid: 's1', iat: 1 }
  const delegated = { iss: 'i', sub: 'ada', aud: 'p', iat: 1, exp: 2, jti: 'j2', client_id: 'orders', scope: 'pay', act: { sub: 'orders' }, sid: 's1', exchanged_from: [origin] }
  t.equal(tokenKind('client', delegated), 'delegated', 'an at+jwt with act')
  t.equal(tokenKind('client', { ...delegated, act: undefined }), 'client')
  t.equal(tokenKind('user', delegated), 'user', 'a user typ stays a user token, whose claims then do not fit')
  t.ok(claimsFitKind('delegated', delegated))
  const twoHops = { ...delegated, client_id: 'payments', act: { sub: 'payments', act: { sub: 'orders' } }, exchanged_from: [origin, { client_id: 'orders', jti: 'j2', iat: 1, exp: 2, epoch: 5 }] }
  t.ok(claimsFitKind('delegated', twoHops), 'two hops')
  const refused: [string, Record<string, unknown>][] = [
    ['no act', { ...delegated, act: undefined }],
    ['an act whose sub is not the client', { ...delegated, act: { sub: 'payments' } }],
    ['an act without sub', { ...delegated, act: { client: 'orders' } }],
    ['a nested act that is no actor', { ...delegated, act: { sub: 'orders', act: 'x' } }],
    ['no exchanged_from', { ...delegated, exchanged_from: undefined }],
    ['an empty exchanged_from', { ...delegated, exchanged_from: [] }],
    ['an origin of neither shape', { ...delegated, exchanged_from: [{ jti: 'x', iat: 1 }] }],
    ['a client origin without exp', { ...delegated, exchanged_from: [{ client_id: 'c', jti: 'x', iat: 1 }] }],
    ['no scope', { ...delegated, scope: undefined }],
    ['no client_id', { ...delegated, client_id: undefined }]
  ]
  for (const [name, payload] of refused) t.notOk(claimsFitKind('delegated', payload), name)
  t.notOk(claimsFitKind('client', delegated), 'as a plain client token: sub is not client_id')

  t.equal(actorDepth(undefined), 0)
  t.equal(actorDepth({ sub: 'a', act: { sub: 'b', act: { sub: 'c' } } }), 3)
  let deep: { sub: string; act?: unknown } = { sub: 'x' }
  for (let depth = 1; depth <= MAX_ACTOR_DEPTH; depth++) deep = { sub: 'x', act: deep }
  t.equal(actorDepth(deep), -1, 'deeper than MAX_ACTOR_DEPTH')

  t.same(delegatedChecks(twoHops), [
    { owner: 'payments', kind: 'client', claims: { client_id: 'payments', jti: 'j2', iat: 1, exp: 2, epoch: undefined, gen: undefined } },
    { owner: 'ada', kind: 'session', claims: { sub: 'ada', sid: 's1', jti: 'j2', iat: 1, exp: 2, gen: undefined } },
    { owner: 'orders', kind: 'client', claims: { client_id: 'orders', jti: 'j2', iat: 1, exp: 2, epoch: 5, gen: undefined } }
  ], 'its own state without sid, the session, and each client token along the way')
})

test("sessionEndMs: auth_time plus SESSION_TTL, in ms", async (t) => {
  t.equal(sessionEndMs(1_700_000_000, 3600), 1_700_003_600_000)
})

test('the package imports nothing of the service: only its own modules, jose, its optional peers and Node', async (t) => {
  const root = join(import.meta.dirname, '..', '..', 'packages', 'verifier', 'src')
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'))
  t.ok(files.length >= 10, `${files.length} modules`)
  const allowed = /^(\.{1,2}\/|node:|jose$|ioredis$|fastify$|fastify-plugin$)/
  for (const file of files) {
    const source = readFileSync(join(root, file), 'utf8')
    for (const [, specifier] of source.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
      t.match(specifier!, allowed, `${file}: ${specifier}`)
      if (specifier!.startsWith('../')) t.notOk(join(file, '..', specifier!).startsWith('..'), `${file}: ${specifier} stays inside the package`)
    }
  }
})
