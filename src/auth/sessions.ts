import { randomBytes } from 'node:crypto'
import type { Config } from '../config.js'
import { ServiceError } from '../errors.js'
import type { TokenResponse } from '../schemas/common.js'
import { SESSION_PAGE_MAX, type ClientInfo, type SessionRecord } from '../schemas/sessions.js'
import type { UserClaims } from '../schemas/tokens.js'
import type { SessionStore } from '../stores/sessions/index.js'
import type { UserStore } from '../stores/users/index.js'
import { toIso, toSeconds, type Clock } from './clock.js'
import { hashPassword, verifyPassword } from './passwords.js'
import { openChild, sealChild } from './refresh-seal.js'
import type { TokenIssuer } from './token-issuer.js'
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

export type RotateOutcome =
  | { outcome: 'rotated' | 'repeated'; response: TokenResponse; claims: UserClaims }
  /** `reused`: rotated before and the grace is over, so the session has been revoked. */
  | { outcome: 'reused' | 'revoked'; claims: UserClaims }

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
  login(email: string, password: string, from: ClientInfo): Promise<LoginResult>
  /**
   * Refresh: rotates the presented token into its one child, atomically in the store, which alone
   * decides on the token's revocation state. A repeat within REFRESH_GRACE gets the same child.
   */
  rotate(token: string): Promise<RotateOutcome>
  /**
   * Logout: this session (revoking the token too), every session of the user, or every other one.
   * `global` also sets the user's not-before: a login still checking the password cannot start after it.
   */
  end(claims: UserClaims, scope: LogoutScope): Promise<void>
  /** DELETE /api/sessions/:id: false when the user has no such live session. */
  endOne(sub: string, sid: string): Promise<boolean>
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
}

export interface SessionDependencies {
  users: UserStore
  sessions: SessionStore
  issuer: TokenIssuer
  reader: SignedTokenReader
  clock: Clock
  config: Pick<Config, 'ACCESS_TOKEN_TTL' | 'SESSION_TTL' | 'REFRESH_GRACE' | 'MAX_SESSIONS_PER_USER'>
}

/** `exp` of a token we signed ourselves (a child handed out again during the grace). */
function expiryOf(token: string): number {
  return Number((JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown }).exp)
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

export function createSessions({ users, sessions, issuer, reader, clock, config }: SessionDependencies): Sessions {
  /** No token outlives its session: exp <= auth_time + SESSION_TTL. */
  const expiryFor = (iat: number, authTime: number): number => Math.min(iat + config.ACCESS_TOKEN_TTL, authTime + config.SESSION_TTL)
  const tokenResponse = (token: string, exp: number, now: number): TokenResponse => ({
    access_token: token,
    token_type: 'bearer',
    expires_in: Math.max(0, exp - toSeconds(now))
  })

  /**
   * Ends the user's sessions (all, or all but one) and raises the user's not-before to now, in one
   * atomic store step; kept SESSION_TTL, as long as a session begun before it could live.
   */
  const endSessionsAndSetNotBefore = (sub: string, which: { all: true } | { except: string }): Promise<number> =>
    sessions.endSessionsAndSetNotBefore(sub, which, { at: clock.now(), keepMs: config.SESSION_TTL * 1000 })

  return {
    async login(email, password, from) {
      // Read before the user (and so the hash) is: a not-before at or after it may mean an old password.
      const checkedAt = clock.now()
      const user = await users.findByEmail(email)
      // Unknown email and wrong password: the same argon2 cost, the same answer.
      const matches = await verifyPassword(user?.password_hash, password)
      if (user === undefined || !matches) return { outcome: 'invalid', user_id: user?.id }
      const now = clock.now()
      const authTime = toSeconds(now)
      const sid = randomBytes(16).toString('base64url')
      const started = await sessions.start(
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
        { checkedAt, maxSessions: config.MAX_SESSIONS_PER_USER }
      )
      // The password changed (or every session was ended) while this login checked it.
      if (started.outcome === 'refused') return { outcome: 'invalid', user_id: user.id }
      const exp = expiryFor(authTime, authTime)
      const { token } = issuer.signUser({ sub: user.id, sid, auth_time: authTime, iat: authTime, exp })
      return { outcome: 'success', response: tokenResponse(token, exp, now), user_id: user.id, sid, evicted: started.evicted }
    },

    async rotate(parentToken) {
      const parent = reader.read(parentToken)
      if (parent.kind !== 'user') throw new ServiceError('TOKEN_INVALID', 'the token is not a user token')
      const claims = parent.claims
      const now = clock.now()
      const iat = toSeconds(now)
      const exp = expiryFor(iat, claims.auth_time)
      // Signed before the atomic step, so that the step can keep it for the grace.
      const child = issuer.signUser({ sub: claims.sub, sid: claims.sid, auth_time: claims.auth_time, iat, exp })
      const result = await sessions.rotate(claims, {
        sealedChild: sealChild(parentToken, child.token),
        graceMs: config.REFRESH_GRACE * 1000,
        now
      })
      switch (result.outcome) {
        case 'rotated':
          return { outcome: 'rotated', response: tokenResponse(child.token, exp, now), claims }
        case 'repeated': {
          const first = openChild(parentToken, result.sealedChild)
          if (first === undefined) return { outcome: 'revoked', claims }
          return { outcome: 'repeated', response: tokenResponse(first, expiryOf(first), now), claims }
        }
        default:
          return { outcome: result.outcome, claims }
      }
    },

    async end(claims, scope) {
      const now = clock.now()
      // The other sessions first: if a later step fails, a retry with the same token still works.
      if (scope === 'others') {
        await sessions.endMany(claims.sub, { except: claims.sid }, now)
        return
      }
      if (scope === 'global') await endSessionsAndSetNotBefore(claims.sub, { all: true })
      await sessions.end(claims, now)
    },

    async endOne(sub, sid) {
      return (await sessions.endMany(sub, { only: sid }, clock.now())) > 0
    },

    async list(sub, { limit = SESSION_PAGE_MAX, cursor } = {}) {
      if (!Number.isInteger(limit) || limit < 1 || limit > SESSION_PAGE_MAX) {
        throw new ServiceError('VALIDATION_FAILED', `querystring/limit must be from 1 to ${SESSION_PAGE_MAX}`)
      }
      const after = cursor === undefined ? undefined : decodeCursor(cursor)
      const page = await sessions.list(sub, { limit, after }, clock.now())
      const last = page.sessions.at(-1)
      return { sessions: page.sessions, next_cursor: page.more && last !== undefined ? encodeCursor(last) : null }
    },

    async changePassword(claims, currentPassword, newPassword) {
      const hash = await users.passwordHashOf(claims.sub)
      if (!(await verifyPassword(hash, currentPassword))) {
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
    }
  }
}
