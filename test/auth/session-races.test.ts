/**
 * A login that checked the old password before a password change (or a global
 * logout) but starts its session after it must not survive. The service keeps a per-user not-before,
 * checked atomically when a session starts, and a password change ends the other sessions both before
 * and after it stores the new hash.
 *
 * The gated tests pause one login (or the change) at the exact step that used to lose the race, over
 * a users store that waits on a gate; the concurrent test fires 20 old-password logins around a change.
 */
import { test } from 'tap'
import { settableClock, type SettableClock } from '../../src/auth/clock.js'
import { createSessions, type LoginResult, type Sessions } from '../../src/auth/sessions.js'
import { createSignedTokenReader } from '../../src/auth/verifier.js'
import { createUserStore, openRevocationStores } from '../../src/stores/index.js'
import type { UserStore } from '../../src/stores/users/index.js'
import { sleep, STORE_MODES, type StoreMode, type TestContext } from '../helper.js'
import { FROM, login, openTestAuth, PASSWORD, register, type TestAuth } from './support.js'

const NEW_PASSWORD = 'another horse battery'

interface Gate {
  /** Resolves when the gated step has been reached. */
  reached: Promise<void>
  /** Lets the gated step go on. */
  open(): void
}

interface Hooks {
  /** Pauses the next findByEmail after it has read the user (and so the hash). */
  afterRead?: Gate
  /** Pauses the next updatePassword before it writes the new hash. */
  beforeUpdate?: Gate
}

function gate(): Gate & { arrive(): Promise<void> } {
  let arrived!: () => void
  let opened!: () => void
  const reached = new Promise<void>((resolve) => (arrived = resolve))
  const open = new Promise<void>((resolve) => (opened = resolve))
  return {
    reached,
    open: () => opened(),
    arrive: async () => {
      arrived()
      await open
    }
  }
}

/**
 * A second Sessions service over the same stores as `auth`, whose users store stops at the gates the
 * test sets. Tokens it issues are verified by `auth` (the same keys and stores).
 */
async function openGated(t: TestContext, mode: StoreMode, clock: SettableClock = settableClock()): Promise<TestAuth & { sessions: Sessions; hooks: Hooks }> {
  const opened = await openTestAuth(t, mode, {}, clock)
  const { auth, config } = opened
  const users = await createUserStore(config)
  t.teardown(() => users.close())
  const revocations = await openRevocationStores(config, { warn() {} }, clock.now)
  t.teardown(() => revocations.close())
  const hooks: Hooks = {}
  const pass = async (which: keyof Hooks) => {
    const stop = hooks[which] as ReturnType<typeof gate> | undefined
    hooks[which] = undefined
    await stop?.arrive()
  }
  const gated: UserStore = {
    ...users,
    async findByEmail(email) {
      const user = await users.findByEmail(email)
      await pass('afterRead')
      return user
    },
    async updatePassword(...args) {
      await pass('beforeUpdate')
      return users.updatePassword(...args)
    }
  }
  const signedTokens = createSignedTokenReader(auth.keys, { issuer: config.ISSUER, sessionTtl: config.SESSION_TTL, clock })
  const sessions = createSessions({ users: gated, sessionStore: revocations.sessions, issuer: auth.issuer, signedTokens, clock, config })
  return { ...opened, sessions, hooks }
}

const sidsOf = async (sessions: Sessions, sub: string) => (await sessions.list(sub)).sessions.map((s) => s.sid)

for (const mode of STORE_MODES) {
  test(`password change vs a login in flight (${mode})`, async (t) => {
    t.test('a login that read the old hash before the change and starts after it is refused', async (t) => {
      const { auth, sessions, hooks, clock } = await openGated(t, mode)
      const { user, email } = await register(auth)
      const current = await login(auth, email)
      const claims = await auth.verifier.verifyUser(current.token)

      const read = (hooks.afterRead = gate())
      const inFlight = sessions.login(email, PASSWORD, FROM)
      await read.reached
      clock.advance(1)
      await sessions.changePassword(claims, PASSWORD, NEW_PASSWORD)
      clock.advance(1)
      read.open()
      const result: LoginResult = await inFlight

      t.equal(result.outcome, 'invalid', 'answered as invalid credentials')
      t.equal(result.user_id, user.id, 'the audit log still names the user')
      if (result.outcome === 'success') await t.rejects(auth.verifier.verify(result.response.access_token), { code: 'TOKEN_REVOKED' }, 'and its token is refused')
      t.same(await sidsOf(auth.sessions, user.id), [current.sid], 'only the session that changed the password')
      await t.resolves(auth.verifier.verify(current.token), 'which still works')
      t.equal((await login(auth, email, NEW_PASSWORD)).user_id, user.id, 'the new password logs in')
    })

    t.test('a login that read the old hash between the two steps of the change is ended by the second', async (t) => {
      const { auth, sessions, hooks, clock } = await openGated(t, mode)
      const { user, email } = await register(auth)
      const current = await login(auth, email)
      const claims = await auth.verifier.verifyUser(current.token)

      const update = (hooks.beforeUpdate = gate())
      const change = sessions.changePassword(claims, PASSWORD, NEW_PASSWORD)
      await update.reached
      clock.advance(1)
      const between = await login(auth, email)
      await t.resolves(auth.verifier.verify(between.token), 'it starts (the hash is still the old one)')
      clock.advance(1)
      update.open()
      await change

      await t.rejects(auth.verifier.verify(between.token), { code: 'TOKEN_REVOKED' }, 'the change ends it')
      t.same(await sidsOf(auth.sessions, user.id), [current.sid])
      t.equal((await auth.sessions.login(email, PASSWORD, FROM)).outcome, 'invalid', 'the old password is refused')
      clock.advance(1)
      t.equal((await auth.sessions.login(email, NEW_PASSWORD, FROM)).outcome, 'success', 'the new one works')
    })
  })

  test(`global logout vs a login in flight (${mode})`, async (t) => {
    const { auth, sessions, hooks, clock } = await openGated(t, mode)
    const { user, email } = await register(auth)
    const current = await login(auth, email)

    const read = (hooks.afterRead = gate())
    const inFlight = sessions.login(email, PASSWORD, FROM)
    await read.reached
    clock.advance(1)
    await auth.sessions.end(await auth.verifier.verifyUser(current.token), 'global')
    clock.advance(1)
    read.open()
    t.equal((await inFlight).outcome, 'invalid', 'a login that checked the password before the logout does not start')
    t.same(await sidsOf(auth.sessions, user.id), [], 'no session is left')
    t.equal((await auth.sessions.login(email, PASSWORD, FROM)).outcome, 'success', 'a login after it works')
  })

  test(`20 concurrent old-password logins around a password change (${mode})`, async (t) => {
    // A clock that moves on every reading, as a real one does between the steps of a request.
    const clock = settableClock()
    const ticking: SettableClock = { ...clock, now: () => (clock.advance(1), clock.now()) }
    const { auth } = await openTestAuth(t, mode, {}, ticking)
    const { user, email } = await register(auth)
    const current = await login(auth, email)
    const claims = await auth.verifier.verifyUser(current.token)

    // 20 logins (more while the change lasts), spread over it: argon2 runs on the libuv pool, a few at
    // a time, so some logins read the hash before the change stores the new one and start after it.
    const logins: Promise<LoginResult>[] = []
    let changing = true
    const change = auth.sessions.changePassword(claims, PASSWORD, NEW_PASSWORD).finally(() => (changing = false))
    for (let i = 0; i < 20 || (changing && i < 60); i++) {
      logins.push(auth.sessions.login(email, PASSWORD, FROM))
      // Spreads the logins over the change's real duration (argon2 on the libuv pool), to race it.
      await sleep(10)
    }
    await change
    const results = await Promise.all(logins)
    const survivors: string[] = []
    for (const result of results) {
      if (result.outcome !== 'success') continue
      const alive = await auth.verifier.verify(result.response.access_token).then(() => true, () => false)
      if (alive) survivors.push(result.sid)
    }
    const started = results.filter((r) => r.outcome === 'success').length
    t.equal(survivors.length, 0, `no old-password session survives (${survivors.length} of the ${started} that started are alive)`)
    t.same(await sidsOf(auth.sessions, user.id), [current.sid], 'only the session that changed the password is listed')
    await t.resolves(auth.verifier.verify(current.token), 'and it still works')
    t.equal((await auth.sessions.login(email, NEW_PASSWORD, FROM)).outcome, 'success', 'the new password logs in')
  })
}
