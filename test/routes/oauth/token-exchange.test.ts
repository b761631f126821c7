/**
 * Token exchange (RFC 8693): the orders service trades Ada's token for one addressed to payments, acting for
 * her, and payments trades that one for the ledger's. openid-client's genericGrantRequest is the client. Two
 * instances share the stores: what one instance ends, the other refuses at once (strict), or within the
 * feed's lag bound (replicated, and the verifier library). Both store configurations.
 */
import type { FastifyInstance } from 'fastify'
import * as client from 'openid-client'
import { test } from 'tap'
import { createVerifier, type VerificationError } from '@jwt-auth-service/verifier'
import { settableClock } from '../../../src/auth/clock.js'
import { ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT } from '../../../src/auth/token-exchange.js'
import type { ClientRegistration } from '../../../src/schemas/clients.js'
import { linkToken, MailCatcher } from '../../mail.js'
import { assertOAuthError, basic, bearer, buildApp, claimsOf, form, listeningPair, registerAndLogin, REDIS_URL, STORE_MODES, storeEnv, until } from '../../helper.js'

const ORDERS = 'https://orders.test'
const PAYMENTS = 'https://payments.test'
const LEDGER = 'https://ledger.test'
const APP_URL = 'http://app.test'
const verifyFor = (audience: string) => `/auth/verify?audience=${encodeURIComponent(audience)}`

/** orders may exchange for payments and the ledger; payments for the ledger; inventory may not exchange. */
async function registerClients(app: FastifyInstance): Promise<Record<'orders' | 'payments' | 'inventory' | 'auditor', string>> {
  const create = async (clientId: string, scopes: string[], more: Partial<Omit<ClientRegistration, 'credential'>>) =>
    (await app.auth.clients.create(clientId, { scopes, audiences: [ORDERS], privileges: [], ...more })).secret!
  return {
    orders: await create('orders', ['payments:charge', 'payments:refund', 'orders:read'], { privileges: ['exchange'], exchange_audiences: [PAYMENTS, LEDGER] }),
    payments: await create('payments', ['payments:charge', 'ledger:write'], { privileges: ['exchange'], exchange_audiences: [LEDGER] }),
    inventory: await create('inventory', ['payments:charge'], { exchange_audiences: [PAYMENTS] }),
    auditor: await create('auditor', [], { privileges: ['introspect', 'revoke'] })
  }
}

function configurationFor(base: string, clientId: string, secret: string): client.Configuration {
  const configuration = new client.Configuration({ issuer: base, token_endpoint: `${base}/oauth/token` }, clientId, undefined, client.ClientSecretBasic(secret))
  client.allowInsecureRequests(configuration) // plain HTTP on loopback only
  return configuration
}

/** One exchange by openid-client, as a service would make it. */
async function exchange(base: string, clientId: string, secret: string, subjectToken: string, parameters: Record<string, string> = {}) {
  return client.genericGrantRequest(configurationFor(base, clientId, secret), TOKEN_EXCHANGE_GRANT, { subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, ...parameters })
}

const verifyStatus = async (app: FastifyInstance, token: string, audience: string) => (await app.inject({ url: verifyFor(audience), headers: bearer(token) })).statusCode

async function introspected(app: FastifyInstance, by: string, secret: string, token: string): Promise<Record<string, unknown>> {
  return (await app.inject(form('/oauth/introspect', { token }, basic(by, secret)))).json()
}

for (const mode of STORE_MODES) {
  test(`orders acts for Ada at payments, payments at the ledger; Ada's logout on A refuses both on B at once (${mode})`, async (t) => {
    const { a, b, issuer, urlB } = await listeningPair(t, mode)
    const secrets = await registerClients(a)
    const ada = await registerAndLogin(a)
    const adaClaims = claimsOf(ada.token)

    const toPayments = await exchange(urlB, 'orders', secrets.orders, ada.token, { resource: PAYMENTS, scope: 'payments:charge' })
    t.equal(toPayments.issued_token_type, ACCESS_TOKEN_TYPE, 'RFC 8693 §2.2.1: issued_token_type')
    t.equal(toPayments.token_type.toLowerCase(), 'bearer')
    t.equal(toPayments.scope, 'payments:charge')
    const delegated = claimsOf(toPayments.access_token)
    t.match(delegated, { iss: issuer, sub: adaClaims.sub, client_id: 'orders', aud: PAYMENTS, act: { sub: 'orders' }, sid: adaClaims.sid, scope: 'payments:charge' })
    t.ok((delegated.exp as number) <= (adaClaims.exp as number), 'never past the subject token')
    t.ok((toPayments.expires_in ?? 0) > 0)

    const gate = await b.inject({ url: verifyFor(PAYMENTS), headers: bearer(toPayments.access_token) })
    t.equal(gate.statusCode, 200, 'the gateway admits it for payments')
    t.match(gate.headers, { 'x-auth-subject': adaClaims.sub, 'x-auth-actor': 'orders', 'x-auth-client': 'orders', 'x-auth-session': adaClaims.sid, 'x-auth-scope': 'payments:charge' })
    t.equal(await verifyStatus(b, toPayments.access_token, LEDGER), 401, 'not for another audience')
    t.equal((await b.inject({ url: '/auth/verify', headers: bearer(toPayments.access_token) })).statusCode, 401, 'not for the user API')
    t.equal((await b.inject({ url: '/api/user', headers: bearer(toPayments.access_token) })).statusCode, 401, 'not a user token: /api/user refuses it')
    const gateForAda = await b.inject({ url: '/auth/verify', headers: bearer(ada.token) })
    t.equal(gateForAda.headers['x-auth-actor'], '', 'a user token has no actor')

    t.match(await introspected(b, 'orders', secrets.orders, toPayments.access_token), { active: true, sub: adaClaims.sub, client_id: 'orders', act: { sub: 'orders' }, sid: adaClaims.sid, aud: PAYMENTS })

    // Two hops: payments acts for Ada at the ledger, and says that orders acted before it.
    const toLedger = await exchange(issuer, 'payments', secrets.payments, toPayments.access_token, { audience: LEDGER })
    t.equal(toLedger.scope, 'payments:charge', "within payments' scopes and the subject token's")
    t.match(claimsOf(toLedger.access_token), { sub: adaClaims.sub, client_id: 'payments', aud: LEDGER, act: { sub: 'payments', act: { sub: 'orders' } }, sid: adaClaims.sid })
    const ledgerGate = await b.inject({ url: verifyFor(LEDGER), headers: bearer(toLedger.access_token) })
    t.equal(ledgerGate.statusCode, 200)
    t.equal(ledgerGate.headers['x-auth-actor'], 'payments', 'the current actor')
    t.match(await introspected(b, 'auditor', secrets.auditor, toLedger.access_token), { active: true, act: { sub: 'payments', act: { sub: 'orders' } } })

    t.equal((await a.inject({ method: 'POST', url: '/api/logout', headers: bearer(ada.token) })).statusCode, 200)
    t.equal(await verifyStatus(b, toPayments.access_token, PAYMENTS), 401, 'after the logout on A: refused on B at once')
    t.equal(await verifyStatus(b, toLedger.access_token, LEDGER), 401, 'the second hop too')
    t.same(await introspected(b, 'orders', secrets.orders, toPayments.access_token), { active: false })
    const again = await b.inject(form('/oauth/token', { grant_type: TOKEN_EXCHANGE_GRANT, subject_token: toPayments.access_token, subject_token_type: ACCESS_TOKEN_TYPE, resource: LEDGER }, basic('payments', secrets.payments)))
    assertOAuthError(t, again, 400, 'invalid_grant')
  })

  test(`revoking the middle token refuses the hop after it and leaves Ada's session; revoking Ada's token ends all (${mode})`, async (t) => {
    const { a, b, urlB } = await listeningPair(t, mode)
    const secrets = await registerClients(a)
    const ada = await registerAndLogin(a)
    const middle = await exchange(urlB, 'orders', secrets.orders, ada.token, { resource: PAYMENTS })
    const last = await exchange(urlB, 'payments', secrets.payments, middle.access_token, { resource: LEDGER })
    const sibling = await exchange(urlB, 'orders', secrets.orders, ada.token, { resource: LEDGER })

    t.equal((await a.inject(form('/oauth/revoke', { token: middle.access_token }, basic('orders', secrets.orders)))).statusCode, 200)
    t.equal(await verifyStatus(b, middle.access_token, PAYMENTS), 401, 'the revoked token')
    t.equal(await verifyStatus(b, last.access_token, LEDGER), 401, 'the token exchanged from it')
    t.equal(await verifyStatus(b, sibling.access_token, LEDGER), 200, 'another exchange of the same user token lives on')
    t.equal((await b.inject({ url: '/api/user', headers: bearer(ada.token) })).statusCode, 200, "Ada's session lives on")

    // Refreshing Ada's token rotates it, and her session goes on: so do the tokens exchanged in it.
    const refreshed = await b.inject({ method: 'POST', url: '/api/refresh', headers: bearer(ada.token) })
    t.equal(refreshed.statusCode, 200)
    t.equal(await verifyStatus(b, sibling.access_token, LEDGER), 200, 'a refresh of the user token leaves the delegated one alive')

    // Another session of Ada's, deleted from the first: what was exchanged from it dies with it, and only that.
    const laptop = (await a.inject({ method: 'POST', url: '/api/login', payload: { email: ada.email, password: ada.password } })).json() as { access_token: string }
    const fromLaptop = await exchange(urlB, 'orders', secrets.orders, laptop.access_token, { resource: PAYMENTS })
    const adaNow = (refreshed.json() as { access_token: string }).access_token
    const deleted = await a.inject({ method: 'DELETE', url: `/api/sessions/${claimsOf(laptop.access_token).sid as string}`, headers: bearer(adaNow) })
    t.equal(deleted.statusCode, 204)
    t.equal(await verifyStatus(b, fromLaptop.access_token, PAYMENTS), 401, 'a deleted session ends the tokens exchanged in it')
    t.equal(await verifyStatus(b, sibling.access_token, LEDGER), 200, 'and no other')

    t.equal((await a.inject(form('/oauth/revoke', { token: adaNow }, basic('auditor', secrets.auditor)))).statusCode, 200)
    t.equal(await verifyStatus(b, sibling.access_token, LEDGER), 401, "revoking Ada's token ends her session, and every exchange of it")
  })

  test(`a password change ends what was exchanged in the other sessions; closing the account ends the rest (${mode})`, async (t) => {
    const { a, b, urlB } = await listeningPair(t, mode)
    const secrets = await registerClients(a)
    const ada = await registerAndLogin(a)
    const phone = (await a.inject({ method: 'POST', url: '/api/login', payload: { email: ada.email, password: ada.password } })).json() as { access_token: string }
    const here = await exchange(urlB, 'orders', secrets.orders, ada.token, { resource: PAYMENTS })
    const there = await exchange(urlB, 'orders', secrets.orders, phone.access_token, { resource: PAYMENTS })

    const password = 'a brand new passphrase'
    const changed = await a.inject({ method: 'PUT', url: '/api/user/password', headers: bearer(ada.token), payload: { current_password: ada.password, password, password_confirmation: password } })
    t.equal(changed.statusCode, 200)
    t.equal(await verifyStatus(b, there.access_token, PAYMENTS), 401, "the other session's exchanged token is refused on B at once")
    t.equal(await verifyStatus(b, here.access_token, PAYMENTS), 200, 'the session that changed the password goes on')

    t.equal((await a.inject({ method: 'DELETE', url: '/api/user', headers: bearer(ada.token), payload: { current_password: password } })).statusCode, 204)
    t.equal(await verifyStatus(b, here.access_token, PAYMENTS), 401, 'closing the account ends it too')
  })

  test(`logout of the others and global, reuse detection, a password reset by mail and disabling the account each end what was exchanged, on the other instance at once (${mode})`, async (t) => {
    const mail = await MailCatcher.start(t)
    const { a, b, urlB } = await listeningPair(t, mode, { SMTP_URL: mail.url, APP_URL, REFRESH_GRACE: '0' })
    const secrets = await registerClients(a)

    const bob = await registerAndLogin(a)
    const forBob = await exchange(urlB, 'orders', secrets.orders, bob.token, { resource: PAYMENTS })
    t.equal((await a.inject({ method: 'POST', url: '/api/refresh', headers: bearer(bob.token) })).statusCode, 200)
    t.equal(await verifyStatus(b, forBob.access_token, PAYMENTS), 200, 'a refresh leaves the exchanged token alive')
    t.equal((await b.inject({ method: 'POST', url: '/api/refresh', headers: bearer(bob.token) })).json().code, 'TOKEN_REUSED')
    t.equal(await verifyStatus(b, forBob.access_token, PAYMENTS), 401, 'reuse of the refreshed token ends the session, and the exchanged token with it')

    // Logout scopes: "others" ends the other sessions' exchanges, "global" every one.
    const carol = await registerAndLogin(a)
    const carolPhone = (await a.inject({ method: 'POST', url: '/api/login', payload: { email: carol.email, password: carol.password } })).json() as { access_token: string }
    const fromDesk = await exchange(urlB, 'orders', secrets.orders, carol.token, { resource: PAYMENTS })
    const fromPhone = await exchange(urlB, 'orders', secrets.orders, carolPhone.access_token, { resource: PAYMENTS })
    t.equal((await a.inject({ method: 'POST', url: '/api/logout?scope=others', headers: bearer(carol.token) })).statusCode, 200)
    t.equal(await verifyStatus(b, fromPhone.access_token, PAYMENTS), 401, 'logout of the others ends the exchange from the phone')
    t.equal(await verifyStatus(b, fromDesk.access_token, PAYMENTS), 200, 'and not the one from the session that logged out the others')
    t.equal((await a.inject({ method: 'POST', url: '/api/logout?scope=global', headers: bearer(carol.token) })).statusCode, 200)
    t.equal(await verifyStatus(b, fromDesk.access_token, PAYMENTS), 401, 'a global logout ends the rest')

    const ada = await registerAndLogin(a)
    const delegated = await exchange(urlB, 'orders', secrets.orders, ada.token, { resource: PAYMENTS })
    t.equal(await verifyStatus(b, delegated.access_token, PAYMENTS), 200)
    t.equal((await a.inject({ method: 'POST', url: '/api/password/forgot', payload: { email: ada.email } })).statusCode, 202)
    const resetToken = linkToken(await mail.next(ada.email, '/reset-password'), APP_URL, '/reset-password')
    const password = 'a brand new passphrase'
    const reset = await a.inject({ method: 'POST', url: '/api/password/reset', payload: { token: resetToken, password, password_confirmation: password } })
    t.equal(reset.statusCode, 200)
    t.equal(await verifyStatus(b, delegated.access_token, PAYMENTS), 401, 'the reset ends the exchanged token')

    const grace = await registerAndLogin(a)
    const first = await exchange(urlB, 'orders', secrets.orders, grace.token, { resource: PAYMENTS })
    const second = await exchange(urlB, 'payments', secrets.payments, first.access_token, { resource: LEDGER })
    t.match(await a.auth.accountAdmin.disable(grace.email), { email: grace.email })
    t.equal(await verifyStatus(b, first.access_token, PAYMENTS), 401, 'disabling the account ends the exchanged token')
    t.equal(await verifyStatus(b, second.access_token, LEDGER), 401, 'and the hop after it')
    t.equal((await a.auth.accountAdmin.enable(grace.email))?.disabled_at, null)
    t.equal(await verifyStatus(b, first.access_token, PAYMENTS), 401, 'enabling it again revives nothing')
  })

  test(`the limits, each refused with its RFC 8693 / RFC 6749 error (${mode})`, async (t) => {
    const clock = settableClock()
    const env = await storeEnv(t, mode, { TOKEN_EXCHANGE_MAX_DEPTH: '2' })
    const app = await buildApp(t, env, clock)
    const secrets = await registerClients(app)
    const ada = await registerAndLogin(app)
    const grant = (clientId: keyof typeof secrets, fields: Record<string, string>) =>
      app.inject(form('/oauth/token', { grant_type: TOKEN_EXCHANGE_GRANT, subject_token_type: ACCESS_TOKEN_TYPE, ...fields }, basic(clientId, secrets[clientId])))
    const hop1 = (await grant('orders', { subject_token: ada.token, resource: PAYMENTS })).json() as { access_token: string }
    const hop2 = (await grant('payments', { subject_token: hop1.access_token, resource: LEDGER })).json() as { access_token: string }
    const ordersOwn = (await app.inject(form('/oauth/token', { grant_type: 'client_credentials', scope: 'orders:read' }, basic('orders', secrets.orders)))).json() as { access_token: string }
    t.ok(hop2.access_token, 'two hops are within TOKEN_EXCHANGE_MAX_DEPTH=2')

    const cases: Array<[string, keyof typeof secrets, Record<string, string>, string]> = [
      ['a third hop, past TOKEN_EXCHANGE_MAX_DEPTH', 'orders', { subject_token: hop2.access_token, resource: PAYMENTS }, 'invalid_grant'],
      ['a client without the exchange privilege', 'inventory', { subject_token: ada.token, resource: PAYMENTS }, 'unauthorized_client'],
      ['a target outside the exchange audiences', 'orders', { subject_token: ada.token, resource: ORDERS }, 'invalid_target'],
      ['resource and audience that differ', 'orders', { subject_token: ada.token, resource: PAYMENTS, audience: LEDGER }, 'invalid_target'],
      ['a target that is not a URI', 'orders', { subject_token: ada.token, audience: 'payments' }, 'invalid_target'],
      ["a scope beyond the client's", 'orders', { subject_token: ada.token, resource: PAYMENTS, scope: 'ledger:write' }, 'invalid_scope'],
      ["a scope beyond the subject client token's", 'orders', { subject_token: ordersOwn.access_token, resource: PAYMENTS, scope: 'payments:charge' }, 'invalid_scope'],
      ['no subject_token', 'orders', { resource: PAYMENTS }, 'invalid_request'],
      ['a refresh-token subject type', 'orders', { subject_token: ada.token, subject_token_type: 'urn:ietf:params:oauth:token-type:refresh_token', resource: PAYMENTS }, 'invalid_request'],
      ['an ID-token requested type', 'orders', { subject_token: ada.token, requested_token_type: 'urn:ietf:params:oauth:token-type:id_token', resource: PAYMENTS }, 'invalid_request'],
      ['an actor token', 'orders', { subject_token: ada.token, actor_token: ordersOwn.access_token, actor_token_type: ACCESS_TOKEN_TYPE, resource: PAYMENTS }, 'invalid_request'],
      ['a malformed subject token', 'orders', { subject_token: 'not.a.token', resource: PAYMENTS }, 'invalid_grant'],
      ['a foreign subject token', 'orders', { subject_token: 'eyJhbGciOiJFUzI1NiIsImtpZCI6ImZvcmVpZ24iLCJ0eXAiOiJKV1QifQ.eyJzdWIiOiJhZGEifQ.c2ln', resource: PAYMENTS }, 'invalid_grant']
    ]
    for (const [name, clientId, fields, error] of cases) {
      await t.test(name, async (t) => assertOAuthError(t, await grant(clientId, fields), 400, error))
    }
    assertOAuthError(t, await app.inject(form('/oauth/token', { grant_type: 'urn:example:unknown' }, basic('orders', secrets.orders))), 400, 'unsupported_grant_type')

    // The subject token is checked while the client is authenticated; a client that fails learns nothing of it.
    for (const subject of ['not.a.token', ada.token]) {
      const wrongSecret = await app.inject(form('/oauth/token', { grant_type: TOKEN_EXCHANGE_GRANT, subject_token_type: ACCESS_TOKEN_TYPE, subject_token: subject, resource: PAYMENTS }, basic('orders', 'not the secret')))
      assertOAuthError(t, wrongSecret, 401, 'invalid_client')
    }

    // A client subject token narrows the exchange to its own scopes; asking for none gets those the client also has.
    const narrowed = (await grant('orders', { subject_token: ordersOwn.access_token, resource: PAYMENTS })).json() as { scope: string; access_token: string }
    t.equal(narrowed.scope, 'orders:read')
    t.match(claimsOf(narrowed.access_token), { sub: 'orders', client_id: 'orders', act: { sub: 'orders' } })
    t.notOk('sid' in claimsOf(narrowed.access_token), 'a client subject has no session')

    // Past the user token's exp (ACCESS_TOKEN_TTL, an hour by default), and so past every token exchanged from it.
    clock.advance(61 * 60 * 1000)
    assertOAuthError(t, await grant('orders', { subject_token: ada.token, resource: PAYMENTS }), 400, 'invalid_grant')
    t.equal(await verifyStatus(app, hop1.access_token, PAYMENTS), 401, 'an exchanged token ends with its subject token, at the latest')
  })
}

test('replicated instances and the verifier library refuse exchanged tokens within the lag bound after the logout', async (t) => {
  const { a, b, env, issuer } = await listeningPair(t, 'redis-postgres', { REVOCATION_CHECK: 'replicated' })
  const secrets = await registerClients(a)
  const ada = await registerAndLogin(a)
  const toPayments = await exchange(issuer, 'orders', secrets.orders, ada.token, { resource: PAYMENTS })
  const toLedger = await exchange(issuer, 'payments', secrets.payments, toPayments.access_token, { resource: LEDGER })
  const orphanHop = await exchange(issuer, 'orders', secrets.orders, ada.token, { resource: PAYMENTS })
  const orphan = await exchange(issuer, 'payments', secrets.payments, orphanHop.access_token, { resource: LEDGER })

  const library = createVerifier({ issuer, audience: [PAYMENTS, LEDGER], accept: ['delegated'], feed: { redisUrl: REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX } })
  const usersOnly = createVerifier({ issuer, audience: [PAYMENTS], accept: ['user'], feed: { redisUrl: REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX } })
  t.teardown(() => Promise.all([library.close(), usersOnly.close()]))
  await Promise.all([library.ready(), usersOnly.ready()])
  const codeOf = (verifier: typeof library, token: string) => verifier.verify(token).then((claims) => `accepted ${claims.kind}`, (error: VerificationError) => error.code)

  t.equal(await codeOf(library, toPayments.access_token), 'accepted delegated')
  t.match(await library.verify(toLedger.access_token), { kind: 'delegated', sub: claimsOf(ada.token).sub, act: { sub: 'payments', act: { sub: 'orders' } } })
  t.equal(await codeOf(usersOnly, toPayments.access_token), 'TOKEN_INVALID', "accept names the kind: ['user'] refuses a delegated token")

  // The middle token of one chain revoked on A: its next hop is refused by B's replica and by the library.
  t.equal((await a.inject(form('/oauth/revoke', { token: orphanHop.access_token }, basic('orders', secrets.orders)))).statusCode, 200)
  await until('B to refuse the hop after the revoked token', async () => (await verifyStatus(b, orphan.access_token, LEDGER)) === 401, 2_000)
  await until('the library to refuse it', async () => (await codeOf(library, orphan.access_token)) === 'TOKEN_REVOKED', 2_000)
  t.equal(await codeOf(library, toLedger.access_token), 'accepted delegated', 'the other chain is untouched')

  const started = performance.now()
  t.equal((await a.inject({ method: 'POST', url: '/api/logout', headers: bearer(ada.token) })).statusCode, 200)
  await until('B to refuse both hops', async () => (await verifyStatus(b, toPayments.access_token, PAYMENTS)) === 401 && (await verifyStatus(b, toLedger.access_token, LEDGER)) === 401, 2_000)
  await until('the library to refuse both hops', async () => (await codeOf(library, toPayments.access_token)) === 'TOKEN_REVOKED' && (await codeOf(library, toLedger.access_token)) === 'TOKEN_REVOKED', 2_000)
  t.ok(performance.now() - started < 2_000, 'within the lag bound (REVOCATION_MAX_LAG_MS 250, with the test’s polling)')
})
