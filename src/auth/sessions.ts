import { randomBytes, randomInt } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { createDecoder } from 'fast-jwt'
import type { Config } from '../config.js'
import { ServiceError, StoreUnavailableError } from '../errors.js'
import type { TokenResponse } from '../schemas/common.js'
import { SESSION_PAGE_MAX, type ClientInfo, type SessionRecord } from '../schemas/sessions.js'
import type { UserClaims } from '../schemas/tokens.js'
import type { RecordVersions } from '../stores/record-versions.js'
import type { RotateResult, Rotation, SessionStore } from '../stores/sessions/index.js'
import type { UserStore } from '../stores/users/index.js'
import { toIso, toSeconds, type Clock } from './clock.js'
import { hashPassword, verifyPassword } from './passwords.js'
import { openChild, sealChild } from './refresh-seal.js'
import { newJti, type TokenIssuer } from './token-issuer.js'
import type { SignedTokenReader } from './verifier.js'

export type LogoutScope = 'local' | 'global' | 'others'

export type LoginResult =
  /** `evicted`: sessions of the user ended to stay within MAX_SESSIONS_PER_USER (least recently refreshed first). */
  | { outcome: 'success'; response: TokenResponse; user_id: string; sid: string; evicted: string[] }
  /**
   * Unknown email or wrong password, or credentials that changed (password change, global logout)
   * while the login checked them; `user_id` when the email is known (for the audit log only).
   */
  | { outcome: 'invalid'; user_id?: string }
  /** The credentials are right, but the account may not log in: an operator disabled it, or REQUIRE_VERIFIED_EMAIL and its email is not verified. */
  | { outcome: 'refused'; code: 'ACCOUNT_DISABLED' | 'EMAIL_NOT_VERIFIED'; user_id: string }

export type RotateOutcome =
  | { outcome: 'rotated' | 'repeated'; response: TokenResponse; claims: UserClaims }
  /**
   * Rotated before and the grace is over, so the session has been revoked. `acknowledged` false: too
   * few replicas hold that yet (report the reuse, then answer 503 like any unacknowledged write).
   */
  | { outcome: 'reused'; acknowledged: boolean; claims: UserClaims }
  | { outcome: 'revoked'; claims: UserClaims }

/** One page of GET /api/sessions. */
export interface SessionPage {
  sessions: SessionRecord[]
  /** Hands on to the next page; null on the last one. */
  next_cursor: string | null
}

/** The whole life of a session: login, rotation, logout scopes, listing, password change. */
export interface Sessions {
  /**
   * Checks the credentials and starts a session. The store refuses the session when the user's
   * not-before (set by a password change or a global logout) is at or after the moment this login
   * began to read them: the password it checked may be the old one.
   */
  login(email: string, password: string, from: ClientInfo, binding?: { jkt: string }): Promise<LoginResult>
  /**
   * Refresh: rotates the presented token into its one child, atomically in the store, which alone
   * decides on the token's revocation state. A repeat within REFRESH_GRACE gets the same child.
   * Retry-safe: when the store cannot acknowledge the rotation (StoreUnavailableError, 503), it is
   * undone, and the presented token works again, to be refreshed by a retry; never taken for reuse.
   * `proveBinding`: for a token bound to a key (DPoP), the request's proof, checked once the token's signature
   * has been, before anything is written; the child is bound to the same key.
   */
  rotate(token: string, proveBinding?: (claims: UserClaims) => Promise<void>): Promise<RotateOutcome>
  /**
   * Logout: this session (revoking the token too), every session of the user, or every other one.
   * `global` also sets the user's not-before: a login still checking the password cannot start after it.
   * Retry-safe: after a 503 the token is refused everywhere but by the logout, which runs it again.
   */
  end(claims: UserClaims, scope: LogoutScope): Promise<void>
  /**
   * DELETE /api/sessions/:id: false when the user has no such live session. A retry after a 503 ends it
   * again and answers true. `holder`: the claims of the request's token, whose own session ends as a
   * logout does (so that the token, refused from then on, may still retry it).
   */
  endOne(sub: string, sid: string, holder?: UserClaims): Promise<boolean>
  /**
   * One page of the user's live sessions, oldest first (by created_at, then id): `limit` (1 to 100,
   * 100 by default) after `cursor`, the next_cursor of the page before. A cursor that this listing did
   * not hand out is VALIDATION_FAILED.
   */
  list(sub: string, page?: { limit?: number; cursor?: string }): Promise<SessionPage>
  /**
   * Checks the current password and stores the new hash; every other session ends, and no session
   * starts on the old password: the other sessions are ended with the not-before set both before the
   * hash is stored and after it, so that a login that read the old hash in between is ended too.
   */
  changePassword(claims: UserClaims, currentPassword: string, newPassword: string): Promise<void>
  /**
   * Ends every session of the user and sets the user's not-before, at once on every instance and in the
   * revocation feed (a password reset, a disabled or deleted account); instances drop their copy of the user.
   */
  endAll(sub: string): Promise<void>
}

export interface SessionDependencies {
  users: UserStore
  sessionStore: SessionStore
  /** With Redis: bumped after a password change, so that instances drop their cached copy of the user (accounts.ts). */
  userVersions?: RecordVersions
  issuer: TokenIssuer
  signedTokens: SignedTokenReader
  clock: Clock
  config: Pick<Config, 'ACCESS_TOKEN_TTL' | 'SESSION_TTL' | 'REFRESH_GRACE' | 'REFRESH_AFTER_EXPIRY' | 'MAX_SESSIONS_PER_USER' | 'REDIS_COMMAND_TIMEOUT_MS' | 'REDIS_WAIT_TIMEOUT_MS' | 'REQUIRE_VERIFIED_EMAIL'>
}

/** A rotation attempt's id: decimal digits (index.ts: it is the fraction of the rotated state's grace end). */
const rotationId = (): string => String(randomInt(2 ** 48 - 1)).padStart(15, '0')

/** `exp` of a token we signed ourselves (a child handed out again during the grace). */
const decodePayload = createDecoder() as (token: string) => { exp: number }
function expiryOf(token: string): number {
  return decodePayload(token).exp
}

/**
 * The listing's cursor: the (created_at, sid) of the last session of a page, opaque to clients
 * (base64url of JSON). Only what encodeCursor makes decodes; anything else is VALIDATION_FAILED.
 */
const encodeCursor = ({ created_at, sid }: SessionRecord): string => Buffer.from(JSON.stringify([created_at, sid])).toString('base64url')

function decodeCursor(cursor: string): { created_at: number; sid: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (Array.isArray(value) && value.length === 2) {
      const [createdAt, sid] = value as unknown[]
      if (Number.isSafeInteger(createdAt) && typeof sid === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(sid)) {
        const after = { created_at: createdAt as number, sid }
        if (encodeCursor(after as SessionRecord) === cursor) return after
      }
    }
  } catch {
    // not JSON: the same answer as any other foreign cursor
  }
  throw new ServiceError('VALIDATION_FAILED', 'querystring/cursor is not a cursor of this listing')
}

/**
 * Ends every session of a user and raises the user's not-before to now, in one atomic store step: at once on
 * every instance and in the revocation feed, and no login that checked the old credentials starts after it.
 * Then instances drop their cached copy of the user. The service's (a reset password, a closed account) and
 * the users CLI's, which holds no signing key.
 */
export function endAllSessions(sessionStore: SessionStore, userVersions: RecordVersions | undefined, clock: Clock, config: Pick<Config, 'SESSION_TTL'>): (sub: string) => Promise<void> {
  return async (sub) => {
    await sessionStore.endSessionsAndSetNotBefore(sub, { all: true }, { at: clock.now(), keepMs: config.SESSION_TTL * 1000 })
    await userVersions?.bump(sub)
  }
}

export function createSessions({ users, sessionStore, userVersions, issuer, signedTokens, clock, config }: SessionDependencies): Sessions {
  /** No token outlives its session: exp <= auth_time + SESSION_TTL. */
  const expiryFor = (iat: number, authTime: number): number => Math.min(iat + config.ACCESS_TOKEN_TTL, authTime + config.SESSION_TTL)
  // `DPoP` for a token bound to a key (RFC 9449 §5); `bearer` as in the seed otherwise.
  const tokenResponse = (token: string, exp: number, now: number, bound = false): TokenResponse => ({
    access_token: token,
    token_type: bound ? 'DPoP' : 'bearer',
    expires_in: Math.max(0, exp - toSeconds(now))
  })

  /**
   * Ends the user's sessions (all, or all but one) and raises the user's not-before to now, in one
   * atomic store step; kept SESSION_TTL, as long as a session begun before it could live.
   */
  const endSessionsAndSetNotBefore = (sub: string, which: { all: true } | { except: string }): Promise<number> =>
    sessionStore.endSessionsAndSetNotBefore(sub, which, { at: clock.now(), keepMs: config.SESSION_TTL * 1000 })

  /**
   * How long one revoking write may be in flight: a store command and its WAIT. A pending rotation
   * older than this (from the start of its request) is dead, as if absent: by then its request has
   * answered, or has at least had its rotation acknowledged; a confirmation that arrives later still
   * succeeds unless another attempt took the token over meanwhile (then it finds another value, and
   * its request answers 503).
   */
  const inFlightMs = config.REDIS_COMMAND_TIMEOUT_MS + config.REDIS_WAIT_TIMEOUT_MS

  /**
   * The store's rotation step; while another request's rotation of the same token is pending (a
   * concurrent tab, a retry that overtook its 503), asks again until that one is confirmed (then the
   * same child) or gone (then this one rotates), for at most `inFlightMs` of real time: that is a wait
   * for another request's I/O, not a decision on the token, so it does not go by the service's clock.
   */
  async function rotateWhenSettled(claims: UserClaims, rotation: Rotation) {
    const deadline = performance.now() + inFlightMs
    let result = await sessionStore.rotate(claims, rotation)
    for (let pause = 2; result.outcome === 'pending'; pause = Math.min(pause * 2, 50)) {
      const left = deadline - performance.now()
      if (left <= 0) throw new StoreUnavailableError('revocation', new Error('a rotation of this token is in flight'))
      await sleep(Math.min(pause, left))
      result = await sessionStore.rotate(claims, rotation)
    }
    return result
  }

  /** Steps that a request cannot undo: best effort, and their failure is no failure of the request. */
  const bestEffort = (step: Promise<unknown>): Promise<void> => step.then(() => undefined, () => undefined)

  async function end(claims: UserClaims, scope: LogoutScope): Promise<void> {
    const now = clock.now()
    // Every other session: the token's own stays alive, so a retry after a 503 simply runs again.
    if (scope === 'others') {
      await sessionStore.endMany(claims.sub, { except: claims.sid }, now)
      return
    }
    // The token's own end first, marked as ending: if this or a later step fails (503), the logout
    // still accepts the token, and its retry runs every step again.
    await sessionStore.end(claims, now)
    if (scope === 'global') await endSessionsAndSetNotBefore(claims.sub, { all: true })
    // Every step is acknowledged: from now on a logout with this token is 401. Should this last step
    // fail, a repeat of the logout gets 200 instead; the revocation itself is safe already.
    await bestEffort(sessionStore.confirmEnd(claims))
  }

  return {
    async login(email, password, from, binding) {
      // Read before the user (and so the hash) is: a not-before at or after it may mean an old password.
      const checkedAt = clock.now()
      const user = await users.findByEmail(email)
      // Unknown email and wrong password: the same argon2 cost, the same answer.
      const matches = await verifyPassword(user?.password_hash, password)
      if (user === undefined || !matches) return { outcome: 'invalid', user_id: user?.id }
      // Told only to who knows the password: nobody else learns that the account exists.
      if (user.disabled_at !== null) return { outcome: 'refused', code: 'ACCOUNT_DISABLED', user_id: user.id }
      if (config.REQUIRE_VERIFIED_EMAIL && user.email_verified_at === null) return { outcome: 'refused', code: 'EMAIL_NOT_VERIFIED', user_id: user.id }
      const now = clock.now()
      const authTime = toSeconds(now)
      const sid = randomBytes(16).toString('base64url')
      // Named before the session starts: the store keeps it as the session's current token.
      const jti = newJti()
      const started = await sessionStore.start(
        {
          sid,
          sub: user.id,
          auth_time: authTime,
          expires_at: (authTime + config.SESSION_TTL) * 1000,
          created_at: now,
          last_refreshed_at: now,
          user_agent: from.user_agent.slice(0, 255),
          ip: from.ip
        },
        { checkedAt, maxSessions: config.MAX_SESSIONS_PER_USER, firstJti: jti }
      )
      // The password changed (or every session was ended) while this login checked it.
      if (started.outcome === 'refused') return { outcome: 'invalid', user_id: user.id }
      const exp = expiryFor(authTime, authTime)
      // `gen`: the revocation feed's generation the session began in (stores/not-before.ts).
      const cnf = binding === undefined ? {} : { cnf: { jkt: binding.jkt } }
      const { token } = issuer.signUser({ sub: user.id, sid, auth_time: authTime, iat: authTime, exp, gen: started.generation, jti, ...cnf })
      return { outcome: 'success', response: tokenResponse(token, exp, now, binding !== undefined), user_id: user.id, sid, evicted: started.evicted }
    },

    async rotate(parentToken, proveBinding) {
      const parent = signedTokens.read(parentToken, { keep: false, expiredForMs: config.REFRESH_AFTER_EXPIRY * 1000 })
      if (parent.kind !== 'user') throw new ServiceError('TOKEN_INVALID', 'the token is not a user token')
      const claims = parent.claims
      await proveBinding?.(claims)
      const bound = claims.cnf !== undefined
      const now = clock.now()
      const iat = toSeconds(now)
      const exp = expiryFor(iat, claims.auth_time)
      // Signed before the atomic step, so that the step can keep it for the grace.
      // In the parent's generation, which the store's step requires to be the current one.
      const child = issuer.signUser({ sub: claims.sub, sid: claims.sid, auth_time: claims.auth_time, iat, exp, gen: claims.gen, ...(bound ? { cnf: claims.cnf } : {}) })
      const rotation: Rotation = {
        sealedChild: sealChild(parentToken, child.token),
        graceMs: config.REFRESH_GRACE * 1000,
        now,
        id: rotationId(),
        pendingUntil: now + inFlightMs,
        usableUntil: (claims.exp + config.REFRESH_AFTER_EXPIRY) * 1000,
        childJti: child.claims.jti
      }
      // Written as pending; confirmed once the store has acknowledged it, and undone when anything fails,
      // so that a 503 leaves the presented token as it was (the store: sessions/redis.ts).
      const rollBack = () => bestEffort(sessionStore.rollbackRotation(claims, rotation))
      let result: RotateResult
      try {
        result = await rotateWhenSettled(claims, rotation)
        if (result.outcome === 'rotated' && !(await sessionStore.confirmRotation(claims, rotation))) {
          throw new StoreUnavailableError('revocation', new Error('the pending rotation lapsed before it was confirmed'))
        }
      } catch (error) {
        await rollBack()
        throw error
      }
      switch (result.outcome) {
        case 'rotated':
          return { outcome: 'rotated', response: tokenResponse(child.token, exp, now, bound), claims }
        case 'repeated': {
          const first = openChild(parentToken, result.sealedChild)
          if (first === undefined) return { outcome: 'revoked', claims }
          return { outcome: 'repeated', response: tokenResponse(first, expiryOf(first), now, bound), claims }
        }
        case 'reused':
          return { outcome: 'reused', acknowledged: result.acknowledged, claims }
        default:
          return { outcome: 'revoked', claims }
      }
    },

    end,

    async endOne(sub, sid, holder) {
      if (holder?.sub === sub && holder.sid === sid) {
        await end(holder, 'local')
        return true
      }
      const now = clock.now()
      const ended = await sessionStore.endOne(sub, sid, { now, pendingUntil: now + inFlightMs })
      // Acknowledged: a repeat is now 404. Should this fail, a repeat within the bound still gets 204.
      if (ended) await bestEffort(sessionStore.confirmEndOne(sub, sid))
      return ended
    },

    async list(sub, { limit = SESSION_PAGE_MAX, cursor } = {}) {
      if (!Number.isInteger(limit) || limit < 1 || limit > SESSION_PAGE_MAX) {
        throw new ServiceError('VALIDATION_FAILED', `querystring/limit must be from 1 to ${SESSION_PAGE_MAX}`)
      }
      const after = cursor === undefined ? undefined : decodeCursor(cursor)
      const page = await sessionStore.list(sub, { limit, after }, clock.now())
      const last = page.sessions.at(-1)
      return { sessions: page.sessions, next_cursor: page.more && last !== undefined ? encodeCursor(last) : null }
    },

    async changePassword(claims, currentPassword, newPassword) {
      const hash = await users.passwordHashOf(claims.sub)
      if (!(await verifyPassword(hash, currentPassword))) {
        // A retry of a change that stored the new hash and then failed (503) on its last step: the new
        // password is the current one already. Ending the other sessions again is all that is left.
        if (hash !== undefined && (await verifyPassword(hash, newPassword))) {
          await endSessionsAndSetNotBefore(claims.sub, { except: claims.sid })
          await userVersions?.bump(claims.sub)
          return
        }
        throw new ServiceError('VALIDATION_FAILED', 'body/current_password is not the current password')
      }
      const newHash = await hashPassword(newPassword)
      // Sessions first: should the update fail, the other sessions are gone and the old password
      // still stands, which is safe; the other order could leave an attacker's session alive.
      await endSessionsAndSetNotBefore(claims.sub, { except: claims.sid })
      if (!(await users.updatePassword(claims.sub, newHash, toIso(clock.now())))) {
        throw new ServiceError('TOKEN_INVALID', 'the token belongs to no user')
      }
      // Once more, now that the new hash is stored: a login that read the old hash before this point
      // began before this not-before, so it is refused if it has not started yet, and ended if it has.
      await endSessionsAndSetNotBefore(claims.sub, { except: claims.sid })
      // The record changed (updated_at): cached copies are stale. Should this fail (503), the retry bumps it.
      await userVersions?.bump(claims.sub)
    },

    endAll: endAllSessions(sessionStore, userVersions, clock, config)
  }
}
