/**
 * Retry-safe revoking writes at the level of the services, on both backends: a rotation is written pending,
 * confirmed once acknowledged, and undone when anything fails, so that a refresh that answered 503 is
 * retried as if it had never happened; a logout and a password change that failed half-way are
 * finished by their retry. The failures are injected into a second Sessions service over the same
 * stores: a step that runs and then fails (a write that too few replicas acknowledged) or that fails
 * without running (a message lost on the way). The HTTP flows over real redis-servers are in
 * test/stores/sessions/retry-safe-writes.test.ts.
 */
import { test } from 'tap'
import { settableClock } from '../../src/auth/clock.js'
import { createSessions, type Sessions } from '../../src/auth/sessions.js'
import { createSignedTokenReader } from '../../src/auth/verifier.js'
import { StoreUnavailableError } from '../../src/errors.js'
import { createUserStore, openRevocationStores } from '../../src/stores/index.js'
import type { SessionStore } from '../../src/stores/sessions/index.js'
import { STORE_MODES, type StoreMode, type TestContext } from '../helper.js'
import { codeOf, FROM, login, openTestAuth, PASSWORD, register, type TestAuth } from './support.js'

type Step = keyof SessionStore
/**
 * `unacknowledged`: the step runs, then fails; `lost`: it fails without running. `then` runs in
 * between; `skip`: how many calls of the step pass first.
 */
type Fault = { kind: 'unacknowledged' | 'lost'; then?: () => Promise<void>; skip?: number }

// A small in-flight bound (REDIS_COMMAND_TIMEOUT_MS + REDIS_WAIT_TIMEOUT_MS), so that waiting it out is quick.
const SETTINGS = { REDIS_COMMAND_TIMEOUT_MS: '100', REDIS_WAIT_TIMEOUT_MS: '20' }
const IN_FLIGHT_MS = 120

/** `auth` over fresh stores, and a second Sessions service over the same stores whose steps fail as `faults` says, once each. */
async function openFaulty(t: TestContext, mode: StoreMode, env: Record<string, string> = {}): Promise<TestAuth & { faulty: Sessions; faults: Map<Step, Fault> }> {
  const clock = settableClock()
  const opened = await openTestAuth(t, mode, { ...SETTINGS, ...env }, clock)
  const { auth, config } = opened
  const users = await createUserStore(config)
  t.teardown(() => users.close())
  const revocations = await openRevocationStores(config, { warn() {} }, clock.now)
  t.teardown(() => revocations.close())
  const faults = new Map<Step, Fault>()
  const store = revocations.sessions
  const wrapped = Object.fromEntries(
    Object.entries(store).map(([name, method]) => [
      name,
      async (...args: unknown[]) => {
        let fault = faults.get(name as Step)
        if (fault?.skip) faults.set(name as Step, { ...fault, skip: fault.skip - 1 })
        else faults.delete(name as Step)
        if (fault?.skip) fault = undefined
        if (fault?.kind === 'lost') throw new StoreUnavailableError('revocation', new Error(`${name}: lost`))
        const result: unknown = await (method as (...a: unknown[]) => Promise<unknown>).apply(store, args)
        if (fault === undefined) return result
        await fault.then?.()
        throw new StoreUnavailableError('revocation', new Error(`${name}: 0 of 1 replicas acknowledged`))
      }
    ])
  ) as unknown as SessionStore
  const signedTokens = createSignedTokenReader(auth.keys, { issuer: config.ISSUER, sessionTtl: config.SESSION_TTL, clock })
  const faulty = createSessions({ users, sessionStore: wrapped, issuer: auth.issuer, signedTokens, clock, config })
  return { ...opened, faulty, faults }
}

const works = (opened: TestAuth, token: string) => codeOf(opened.auth.verifier.verifyUser(token))

for (const mode of STORE_MODES) {
  test(`a refresh that answered 503 is retried as if it had never happened (${mode})`, async (t) => {
    t.test('the confirmation is not acknowledged: the rotation is rolled back, and a retry after the grace rotates', async (t) => {
      const opened = await openFaulty(t, mode, { REFRESH_GRACE: '1' })
      const { auth, faulty, faults, clock } = opened
      const { token } = await login(auth, (await register(auth)).email)
      faults.set('confirmRotation', { kind: 'unacknowledged' })
      t.equal(await codeOf(faulty.rotate(token)), 'STORE_UNAVAILABLE')
      t.equal(await works(opened, token), 'resolved', 'the token works again at once')
      clock.advance(5_000)
      const retried = await auth.sessions.rotate(token)
      t.equal(retried.outcome, 'rotated', 'no reuse: a rotation')
      if (retried.outcome !== 'rotated') return
      t.equal(await works(opened, token), 'TOKEN_REVOKED')
      t.equal(await works(opened, retried.response.access_token), 'resolved')
    })

    t.test('the rotation is not acknowledged, and its rollback is lost: the pending rotation dies at its bound', async (t) => {
      const opened = await openFaulty(t, mode)
      const { auth, faulty, faults, clock } = opened
      const { token } = await login(auth, (await register(auth)).email)
      faults.set('rotate', { kind: 'unacknowledged' })
      faults.set('rollbackRotation', { kind: 'lost' })
      t.equal(await codeOf(faulty.rotate(token)), 'STORE_UNAVAILABLE')
      t.equal(await works(opened, token), 'TOKEN_REVOKED', 'refused while the rotation may be in flight')
      const started = performance.now()
      t.equal(await codeOf(auth.sessions.rotate(token)), 'STORE_UNAVAILABLE', 'a refresh meanwhile waits for it, then 503: never reuse')
      t.ok(performance.now() - started >= IN_FLIGHT_MS - 5, 'it waited for the in-flight bound')
      clock.advance(IN_FLIGHT_MS)
      t.equal(await works(opened, token), 'resolved', 'past the bound the token works again')
      const retried = await auth.sessions.rotate(token)
      t.equal(retried.outcome, 'rotated', 'and rotates')
      if (retried.outcome === 'rotated') t.equal(await works(opened, retried.response.access_token), 'resolved')
      t.equal(await works(opened, token), 'TOKEN_REVOKED')
    })

    t.test('a confirmation that arrives after another rotation took over changes nothing', async (t) => {
      const opened = await openFaulty(t, mode)
      const { auth, faulty, faults, clock } = opened
      const { token } = await login(auth, (await register(auth)).email)
      let other: Awaited<ReturnType<Sessions['rotate']>> | undefined
      // The first attempt's rotation is lost in flight until its bound has passed and a retry rotated the
      // token; only then does its confirmation (and its rollback) reach the store.
      faults.set('rotate', {
        kind: 'unacknowledged',
        then: async () => {
          clock.advance(IN_FLIGHT_MS)
          other = await auth.sessions.rotate(token)
        }
      })
      t.equal(await codeOf(faulty.rotate(token)), 'STORE_UNAVAILABLE')
      t.equal(other?.outcome, 'rotated', 'the retry rotated the token')
      if (other?.outcome !== 'rotated') return
      const again = await auth.sessions.rotate(token)
      t.equal(again.outcome, 'repeated', "the retry's rotation stands")
      if (again.outcome === 'repeated') t.equal(again.response.access_token, other.response.access_token)
      t.equal(await works(opened, other.response.access_token), 'resolved')
    })

    t.test('a repeat that handed the child out cannot be rolled back', async (t) => {
      const opened = await openFaulty(t, mode)
      const { auth, faulty, faults } = opened
      const { token } = await login(auth, (await register(auth)).email)
      let repeated: Awaited<ReturnType<Sessions['rotate']>> | undefined
      // The confirmation runs, then (before its failure is known) another tab gets the child.
      faults.set('confirmRotation', { kind: 'unacknowledged', then: async () => void (repeated = await auth.sessions.rotate(token)) })
      t.equal(await codeOf(faulty.rotate(token)), 'STORE_UNAVAILABLE')
      t.equal(repeated?.outcome, 'repeated', 'the other tab got the child')
      if (repeated?.outcome !== 'repeated') return
      t.equal(await works(opened, token), 'TOKEN_REVOKED', 'so the parent stays rotated')
      t.equal(await works(opened, repeated.response.access_token), 'resolved', 'and the child works')
      const retried = await auth.sessions.rotate(token)
      t.equal(retried.outcome, 'repeated', 'a retry gets the same child')
      if (retried.outcome === 'repeated') t.equal(retried.response.access_token, repeated.response.access_token)
    })
  })

  test(`a logout and a password change that failed half-way are finished by their retry (${mode})`, async (t) => {
    t.test('logout: refused everywhere but by the logout until it is acknowledged', async (t) => {
      const opened = await openFaulty(t, mode)
      const { auth, faulty, faults } = opened
      const { token } = await login(auth, (await register(auth)).email)
      const claims = await auth.verifier.verifyUser(token)
      faults.set('end', { kind: 'unacknowledged' })
      t.equal(await codeOf(faulty.end(claims, 'local')), 'STORE_UNAVAILABLE')
      t.equal(await works(opened, token), 'TOKEN_REVOKED')
      t.same(await auth.verifier.verifyUserOrEnding(token), { claims, ending: true }, 'the logout admits it')
      await auth.sessions.end(claims, 'local')
      t.equal(await codeOf(auth.verifier.verifyUserOrEnding(token)), 'TOKEN_REVOKED', 'acknowledged: refused by the logout too')
    })

    t.test('global logout: the token is ending before the other sessions end', async (t) => {
      const opened = await openFaulty(t, mode)
      const { auth, faulty, faults } = opened
      const { email } = await register(auth)
      const { token } = await login(auth, email)
      const other = (await login(auth, email)).token
      const claims = await auth.verifier.verifyUser(token)
      faults.set('endSessionsAndSetNotBefore', { kind: 'lost' })
      t.equal(await codeOf(faulty.end(claims, 'global')), 'STORE_UNAVAILABLE')
      t.equal((await auth.verifier.verifyUserOrEnding(token)).ending, true, 'the retry is admitted')
      t.equal(await works(opened, other), 'resolved', 'the other session was not ended yet')
      await auth.sessions.end(claims, 'global')
      t.equal(await works(opened, other), 'TOKEN_REVOKED')
      t.equal(await codeOf(auth.verifier.verifyUserOrEnding(token)), 'TOKEN_REVOKED')
    })

    t.test('password change: the new hash is stored, then the last step fails; the retry (same body) succeeds', async (t) => {
      const opened = await openFaulty(t, mode)
      const { auth, faulty, faults, clock } = opened
      const { email } = await register(auth)
      const { token } = await login(auth, email)
      const other = (await login(auth, email)).token
      const claims = await auth.verifier.verifyUser(token)
      const next = 'another horse battery'
      // The first end of the other sessions passes, the second (after the new hash is stored) fails.
      faults.set('endSessionsAndSetNotBefore', { kind: 'unacknowledged', skip: 1 })
      t.equal(await codeOf(faulty.changePassword(claims, PASSWORD, next)), 'STORE_UNAVAILABLE')
      clock.advance(1)
      t.equal((await auth.sessions.login(email, next, FROM)).outcome, 'success', 'the new password is stored')
      await t.resolves(auth.sessions.changePassword(claims, PASSWORD, next), 'the retry with the same body succeeds')
      t.equal(await works(opened, token), 'resolved', 'the token keeps its session')
      t.equal(await works(opened, other), 'TOKEN_REVOKED')
      t.equal(await codeOf(auth.sessions.changePassword(claims, 'not the password', 'yet another passphrase')), 'VALIDATION_FAILED', 'a wrong current password is still refused')
    })
  })
}
