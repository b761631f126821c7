/**
 * Shared setup for the unit tests of the domain core (src/auth): a real `Auth` over the stores of one
 * store mode, driven by a settable clock, and small helpers to register and log in through the services.
 */
import { randomBytes } from 'node:crypto'
import { openAuth, type Auth } from '../../src/auth/index.js'
import { settableClock, type SettableClock } from '../../src/auth/clock.js'
import type { LoginResult } from '../../src/auth/sessions.js'
import { loadConfig, type Config } from '../../src/config.js'
import type { User } from '../../src/schemas/common.js'
import { storeEnv, type Env, type StoreMode, type TestContext } from '../helper.js'

export interface TestAuth {
  auth: Auth
  clock: SettableClock
  config: Config
  env: Env
}

/** Opens the services over fresh stores of `mode`; closed after the test. */
export async function openTestAuth(t: TestContext, mode: StoreMode, overrides: Env = {}, clock: SettableClock = settableClock()): Promise<TestAuth> {
  const env = await storeEnv(t, mode, overrides)
  return openTestAuthWith(t, env, clock)
}

/** openTestAuth over settings the test has already made (a second instance, a dead Redis). */
export async function openTestAuthWith(t: TestContext, env: Env, clock: SettableClock = settableClock()): Promise<TestAuth> {
  const config = loadConfig(env)
  const auth = await openAuth(config, { log: { warn() {}, info() {}, error() {} }, clock })
  t.teardown(() => auth.close())
  return { auth, clock, config, env }
}

export const FROM = { user_agent: 'tap unit test', ip: '192.0.2.1' }
export const PASSWORD = 'correct horse battery'

export interface Registered {
  user: User
  email: string
  password: string
}

export async function register(auth: Auth, password = PASSWORD): Promise<Registered> {
  const email = `user.${randomBytes(6).toString('hex')}@example.com`
  const user = await auth.accounts.register({ name: 'Unit Test', email, password })
  return { user, email, password }
}

export type LoggedIn = Extract<LoginResult, { outcome: 'success' }> & { token: string }

/** Logs in, or throws when the login is refused. */
export async function login(auth: Auth, email: string, password = PASSWORD): Promise<LoggedIn> {
  const result = await auth.sessions.login(email, password, FROM)
  if (result.outcome !== 'success') throw new Error(`login refused for ${email}`)
  return { ...result, token: result.response.access_token }
}

/** The code of the ServiceError a promise rejects with (or 'resolved'), for tables of expectations. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
    return 'resolved'
  } catch (error) {
    return String((error as { code?: unknown }).code ?? (error as Error).name)
  }
}
