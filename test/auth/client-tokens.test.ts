/**
 * auth.clients (the registry) and auth.clientTokens (the client-credentials grant and RFC 7009
 * revocation), without HTTP, against both store modes. Expiry and epochs are decided by the settable
 * clock; nothing sleeps.
 */
import { test } from 'tap'
import type { Auth } from '../../src/auth/index.js'
import { toIso, toSeconds } from '../../src/auth/clock.js'
import { ClientExistsError } from '../../src/auth/clients.js'
import { OAuthError } from '../../src/errors.js'
import type { Client, ClientRegistration } from '../../src/schemas/clients.js'
import { claimsOf, STORE_MODES } from '../helper.js'
import { login, openTestAuth, register } from './support.js'

const ISSUER = 'http://auth.test'
/** Where the tests' clients' tokens go, unless a test names another audience. */
const ORDERS = 'https://api.example/orders'
/** Client tokens are never for DEFAULT_AUDIENCE: where audience is beside the point, any is checked for. */
const ANY_AUDIENCE = { anyAudience: true } as const

/** A new client with its secret. */
async function newClient(auth: Auth, clientId: string, scopes = ['orders:read', 'orders:write'], more: Partial<Omit<ClientRegistration, 'credential'>> = {}): Promise<{ client: Client; secret: string }> {
  return auth.clients.create(clientId, { scopes, audiences: [ORDERS], privileges: [], ...more })
}

const headerOf = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>

for (const mode of STORE_MODES) {
  test(`the client registry (${mode})`, async (t) => {
    const { auth, clock } = await openTestAuth(t, mode)
    const { client, secret } = await newClient(auth, 'billing')
    t.same(client, { client_id: 'billing', scopes: ['orders:read', 'orders:write'], audiences: [ORDERS], privileges: [], exchange_audiences: [], auth_method: 'client_secret', created_at: toIso(clock.now()) }, 'created_at from the clock')
    t.match(secret, /^[A-Za-z0-9_-]{43}$/, '256-bit secret')
    await t.rejects(newClient(auth, 'billing'), ClientExistsError, 'a duplicate id is refused')
    await newClient(auth, 'archive', ['orders:read'])

    t.same(await auth.clients.authenticate({ kind: 'secret' as const, id: 'billing', secret, basic: false }), client, 'the right secret')
    const refusals = [
      { description: 'wrong secret', credentials: { kind: 'secret' as const, id: 'billing', secret: `${secret}x`, basic: false } },
      { description: 'unknown id', credentials: { kind: 'secret' as const, id: 'nobody', secret, basic: false } },
      { description: 'wrong secret via Basic', credentials: { kind: 'secret' as const, id: 'billing', secret: 'nope', basic: true } }
    ]
    for (const { description, credentials } of refusals) {
      await t.rejects(auth.clients.authenticate(credentials), { name: 'OAuthError', statusCode: 401, error: 'invalid_client' }, description)
    }
    await t.rejects(auth.clients.authenticate(refusals[2]!.credentials), { name: 'OAuthError', headers: { 'www-authenticate': /^Basic / } }, 'a Basic challenge')

    t.same((await auth.clients.list()).map((c) => c.client_id), ['archive', 'billing'], 'list, by id')
    t.equal(await auth.clients.delete('archive'), true, 'deleted')
    t.equal(await auth.clients.delete('archive'), false, 'already gone')
    t.same((await auth.clients.list()).map((c) => c.client_id), ['billing'])
    await t.rejects(auth.clients.authenticate({ kind: 'secret' as const, id: 'archive', secret, basic: false }), { name: 'OAuthError', error: 'invalid_client' }, 'a deleted client')
  })

  test(`issue (${mode})`, async (t) => {
    const { auth, clock, config } = await openTestAuth(t, mode)
    const { client } = await newClient(auth, 'billing', undefined, { audiences: ['https://api.example/orders'] })
    clock.advance(123)

    const grant = await auth.clientTokens.issue(client, {})
    const iat = toSeconds(clock.now())
    t.same({ ...grant, access_token: 'x' }, { access_token: 'x', token_type: 'Bearer', expires_in: config.CLIENT_TOKEN_TTL, scope: 'orders:read orders:write' }, 'all scopes by default')
    t.match(headerOf(grant.access_token), { typ: 'at+jwt', kid: auth.keys.signing.kid, alg: 'ES256' })
    const claims = claimsOf(grant.access_token)
    // The markers it was issued under (stores/not-before.ts): the client's epoch, and with Redis the feed's generation.
    const markers = mode === 'embedded' ? { epoch: claims.epoch } : { epoch: claims.epoch, gen: claims.gen }
    t.same(claims, { iss: ISSUER, sub: 'billing', client_id: 'billing', aud: ORDERS, scope: 'orders:read orders:write', iat, exp: iat + config.CLIENT_TOKEN_TTL, jti: claims.jti, ...markers })
    for (const [name, value] of Object.entries(markers)) t.ok(Number.isSafeInteger(value) && (value as number) > 1e15, `${name} is a marker in µs`)
    t.same(await auth.verifier.verify(grant.access_token, { audience: ORDERS }), { kind: 'client', claims }, 'the token verifies')

    t.equal((await auth.clientTokens.issue(client, { scope: 'orders:read' })).scope, 'orders:read', 'a subset')
    t.equal((await auth.clientTokens.issue(client, { scope: 'orders:write orders:read orders:write' })).scope, 'orders:write orders:read', 'repeats dropped')
    t.equal((await auth.clientTokens.issue(client, { scope: '  ' })).scope, 'orders:read orders:write', 'an empty scope is all scopes')

    const aimed = await auth.clientTokens.issue(client, { resource: 'https://api.example/orders' })
    t.equal(claimsOf(aimed.access_token).aud, 'https://api.example/orders', 'aud = resource')
    await t.rejects(auth.verifier.verify(aimed.access_token), { code: 'TOKEN_INVALID' }, 'not meant for DEFAULT_AUDIENCE')
    await t.resolves(auth.verifier.verify(aimed.access_token, { audience: 'https://api.example/orders' }), 'but for its resource')

    const refused: [string, { scope?: string; resource?: string }, string][] = [
      ['a scope the client lacks', { scope: 'orders:read admin' }, 'invalid_scope'],
      ['a relative resource', { resource: 'orders/v1' }, 'invalid_target'],
      ['a resource with a fragment', { resource: 'https://api.example/orders#x' }, 'invalid_target'],
      ['a resource outside its audiences', { resource: 'https://unrelated.invalid' }, 'invalid_target'],
      ['DEFAULT_AUDIENCE, the user tokens\' own', { resource: ISSUER }, 'invalid_target'],
      ['a resource that is no URI', { resource: '' }, 'invalid_target']
    ]
    for (const [description, request, error] of refused) {
      await t.rejects(auth.clientTokens.issue(client, request), { name: 'OAuthError', statusCode: 400, error }, description)
    }

    const { client: several } = await newClient(auth, 'several', undefined, { audiences: ['https://first.example', 'https://second.example'] })
    t.equal(claimsOf((await auth.clientTokens.issue(several, {})).access_token).aud, 'https://first.example', 'without resource: the first audience')
    t.equal(claimsOf((await auth.clientTokens.issue(several, { resource: 'https://second.example' })).access_token).aud, 'https://second.example')
    const { client: none } = await newClient(auth, 'audienceless', undefined, { audiences: [] })
    await t.rejects(
      auth.clientTokens.issue(none, {}),
      { name: 'OAuthError', error: 'invalid_target', message: /no audience: give it one with "clients update audienceless --audience <uri>"/ },
      'a client without an audience gets no token, and is told how to get one'
    )
    // Registered before client tokens stopped being for DEFAULT_AUDIENCE: still refused it.
    const { client: legacy } = await newClient(auth, 'legacy', undefined, { audiences: [ISSUER] })
    await t.rejects(auth.clientTokens.issue(legacy, {}), { name: 'OAuthError', error: 'invalid_target' }, 'a client registered for DEFAULT_AUDIENCE')
  })

  test(`revoke (${mode})`, async (t) => {
    const { auth } = await openTestAuth(t, mode)
    const { client: billing } = await newClient(auth, 'billing')
    const { client: other } = await newClient(auth, 'other', undefined, { privileges: ['revoke'] })
    const { client: plain } = await newClient(auth, 'plain')

    t.test('by its own client: refused from then on', async (t) => {
      const { access_token } = await auth.clientTokens.issue(billing, {})
      const kept = await auth.clientTokens.issue(billing, {})
      t.same(await auth.clientTokens.revoke(access_token, billing), { kind: 'client', client_id: 'billing' })
      await t.rejects(auth.verifier.verify(access_token, ANY_AUDIENCE), { code: 'TOKEN_REVOKED' })
      await t.resolves(auth.verifier.verify(kept.access_token, ANY_AUDIENCE), 'another token of the client is not')
      t.same(await auth.clientTokens.revoke(access_token, billing), { kind: 'client', client_id: 'billing' }, 'again: idempotent')
    })

    t.test('by another client without the privilege: unauthorized_client, and the token stays valid', async (t) => {
      const { access_token } = await auth.clientTokens.issue(billing, {})
      const error = await auth.clientTokens.revoke(access_token, plain).catch((e: unknown) => e)
      t.ok(error instanceof OAuthError, 'an OAuthError')
      t.match(error, { statusCode: 400, error: 'unauthorized_client' })
      await t.resolves(auth.verifier.verify(access_token, ANY_AUDIENCE))
    })

    t.test('without the revoke privilege: only its own tokens', async (t) => {
      const { email } = await register(auth)
      const session = await login(auth, email)
      const { access_token } = await auth.clientTokens.issue(billing, {})
      for (const token of [session.token, access_token]) {
        await t.rejects(auth.clientTokens.revoke(token, plain), { name: 'OAuthError', error: 'unauthorized_client' })
        await t.resolves(auth.verifier.verify(token, ANY_AUDIENCE), 'still valid')
      }
    })

    t.test('a user token, by a client with the revoke privilege: its session ends', async (t) => {
      const { user, email } = await register(auth)
      const session = await login(auth, email)
      const kept = await login(auth, email)
      t.same(await auth.clientTokens.revoke(session.token, other), { kind: 'user', sub: user.id, sid: session.sid })
      await t.rejects(auth.verifier.verify(session.token), { code: 'TOKEN_REVOKED' })
      t.same((await auth.sessions.list(user.id)).sessions.map((s) => s.sid), [kept.sid], 'only that session')
    })

    t.test('garbage is nothing to revoke', async (t) => {
      for (const garbage of ['', 'hello', 'a.b.c', '..', `${(await auth.clientTokens.issue(billing, {})).access_token}x`]) {
        t.same(await auth.clientTokens.revoke(garbage, billing), { kind: 'nothing' }, JSON.stringify(garbage.slice(0, 20)))
      }
    })
  })

  test(`deleting a client refuses its tokens at once (${mode})`, async (t) => {
    const { auth } = await openTestAuth(t, mode)
    const { client: doomed } = await newClient(auth, 'doomed')
    const { client: kept } = await newClient(auth, 'kept')
    const tokens = [await auth.clientTokens.issue(doomed, {}), await auth.clientTokens.issue(doomed, { scope: 'orders:read' })]
    const other = await auth.clientTokens.issue(kept, {})
    t.equal(await auth.clients.delete('doomed'), true)
    for (const { access_token } of tokens) await t.rejects(auth.verifier.verify(access_token, ANY_AUDIENCE), { code: 'TOKEN_REVOKED' })
    await t.resolves(auth.verifier.verify(other.access_token, ANY_AUDIENCE), "another client's token still works")
  })

  test(`expiry at CLIENT_TOKEN_TTL by the clock (${mode})`, async (t) => {
    const { auth, clock } = await openTestAuth(t, mode, { CLIENT_TOKEN_TTL: '300' })
    const { client } = await newClient(auth, 'billing', undefined, { audiences: ['https://api.example/orders'] })
    const { access_token, expires_in } = await auth.clientTokens.issue(client, {})
    t.equal(expires_in, 300)
    const exp = claimsOf(access_token).exp as number
    clock.set(exp * 1000 - 1)
    await t.resolves(auth.verifier.verify(access_token, ANY_AUDIENCE), 'accepted 1 ms before exp')
    clock.set(exp * 1000 + 1)
    await t.rejects(auth.verifier.verify(access_token, ANY_AUDIENCE), { code: 'TOKEN_EXPIRED' })
    t.same(await auth.clientTokens.revoke(access_token, client), { kind: 'nothing' }, 'an expired token is nothing to revoke')
    await t.resolves(auth.verifier.verify((await auth.clientTokens.issue(client, {})).access_token, ANY_AUDIENCE), 'a new grant works')
  })

  // Found by this test: the embedded deny-list entry ended at exp while the verifier still accepted the token there.
  test(`a revoked client token is never accepted again, even at its exp (${mode})`, async (t) => {
    const { auth, clock } = await openTestAuth(t, mode)
    const { client } = await newClient(auth, 'billing', undefined, { audiences: ['https://api.example/orders'] })
    const revoked = await auth.clientTokens.issue(client, {})
    clock.advance(1_000)
    await auth.clientTokens.issue(client, {}) // keeps the client's epoch alive past the first token's exp
    await auth.clientTokens.revoke(revoked.access_token, client)
    clock.set((claimsOf(revoked.access_token).exp as number) * 1000)
    const code = await auth.verifier.verify(revoked.access_token, ANY_AUDIENCE).then(() => 'accepted', (e: { code?: string }) => e.code)
    t.match(code, /^TOKEN_(EXPIRED|REVOKED)$/, 'the revoked token at its exp')
  })

  // The epoch and iat come from one reading of the service's clock: neither a second reading nor the
  // store's own clock (hence the clock 10 s behind the wall clock too) may put the epoch after iat.
  for (const [label, offset] of [['now', 0], ['10 s behind the wall clock', -10_000]] as const) {
    test(`epoch race: a token issued at x.999 s verifies, clock ${label} (${mode})`, async (t) => {
      const { auth, clock } = await openTestAuth(t, mode)
      const { client } = await newClient(auth, 'billing', undefined, { audiences: ['https://api.example/orders'] })
      clock.set(Math.floor(Date.now() / 1000) * 1000 + offset + 999)
      const first = await auth.clientTokens.issue(client, {})
      t.equal(claimsOf(first.access_token).iat, toSeconds(clock.now()), 'iat is the second of that reading')
      await t.resolves(auth.verifier.verify(first.access_token, ANY_AUDIENCE), 'the first token of the epoch verifies')
      clock.advance(1)
      const next = await auth.clientTokens.issue(client, {})
      t.equal(claimsOf(next.access_token).iat, toSeconds(clock.now()))
      await t.resolves(auth.verifier.verify(next.access_token, ANY_AUDIENCE), 'and one issued in the next second')
      await t.resolves(auth.verifier.verify(first.access_token, ANY_AUDIENCE), 'the first still verifies')
    })
  }
}
