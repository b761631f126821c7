import { randomBytes } from 'node:crypto'
import type { Config } from '../config.js'
import { ServiceError } from '../errors.js'
import type { TokenResponse } from '../schemas/common.js'
import type { ClientInfo, SessionRecord } from '../schemas/sessions.js'
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
  | { outcome: 'success'; response: TokenResponse; user_id: string; sid: string }
  /** Unknown email or wrong password; `user_id` when the email is known (for the audit log only). */
  | { outcome: 'invalid'; user_id?: string }

export type RotateOutcome =
  | { outcome: 'rotated' | 'repeated'; response: TokenResponse; claims: UserClaims }
  /** `reused`: rotated before and the grace is over, so the session has been revoked. */
  | { outcome: 'reused' | 'revoked'; claims: UserClaims }

/** The whole life of a session: login, rotation, logout scopes, listing, password change. */
export interface Sessions {
  login(email: string, password: string, from: ClientInfo): Promise<LoginResult>
  /**
   * Refresh: rotates the presented token into its one child, atomically in the store, which alone
   * decides on the token's revocation state. A repeat within REFRESH_GRACE gets the same child.
   */
  rotate(token: string): Promise<RotateOutcome>
  /** Logout: this session (revoking the token too), every session of the user, or every other one. */
  end(claims: UserClaims, scope: LogoutScope): Promise<void>
  /** DELETE /api/sessions/:id: false when the user has no such live session. */
  endOne(sub: string, sid: string): Promise<boolean>
  list(sub: string): Promise<SessionRecord[]>
  /** Checks the current password, ends every other session, then stores the new hash. */
  changePassword(claims: UserClaims, currentPassword: string, newPassword: string): Promise<void>
}

export interface SessionDependencies {
  users: UserStore
  sessions: SessionStore
  issuer: TokenIssuer
  reader: SignedTokenReader
  clock: Clock
  config: Pick<Config, 'ACCESS_TOKEN_TTL' | 'SESSION_TTL' | 'REFRESH_GRACE'>
}

/** `exp` of a token we signed ourselves (a child handed out again during the grace). */
function expiryOf(token: string): number {
  return Number((JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown }).exp)
}

export function createSessions({ users, sessions, issuer, reader, clock, config }: SessionDependencies): Sessions {
  /** No token outlives its session: exp <= auth_time + SESSION_TTL. */
  const expiryFor = (iat: number, authTime: number): number => Math.min(iat + config.ACCESS_TOKEN_TTL, authTime + config.SESSION_TTL)
  const tokenResponse = (token: string, exp: number, now: number): TokenResponse => ({
    access_token: token,
    token_type: 'bearer',
    expires_in: Math.max(0, exp - toSeconds(now))
  })

  return {
    async login(email, password, from) {
      const user = await users.findByEmail(email)
      // Unknown email and wrong password: the same argon2 cost, the same answer.
      const matches = await verifyPassword(user?.password_hash, password)
      if (user === undefined || !matches) return { outcome: 'invalid', user_id: user?.id }
      const now = clock.now()
      const authTime = toSeconds(now)
      const sid = randomBytes(16).toString('base64url')
      await sessions.start({
        sid,
        sub: user.id,
        auth_time: authTime,
        expires_at: (authTime + config.SESSION_TTL) * 1000,
        created_at: now,
        last_refreshed_at: now,
        user_agent: from.user_agent.slice(0, 255),
        ip: from.ip
      })
      const exp = expiryFor(authTime, authTime)
      const { token } = issuer.signUser({ sub: user.id, sid, auth_time: authTime, iat: authTime, exp })
      return { outcome: 'success', response: tokenResponse(token, exp, now), user_id: user.id, sid }
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
      if (scope === 'global') await sessions.endMany(claims.sub, { all: true }, now)
      await sessions.end(claims, now)
    },

    async endOne(sub, sid) {
      return (await sessions.endMany(sub, { only: sid }, clock.now())) > 0
    },

    list: (sub) => sessions.list(sub, clock.now()),

    async changePassword(claims, currentPassword, newPassword) {
      const hash = await users.passwordHashOf(claims.sub)
      if (!(await verifyPassword(hash, currentPassword))) {
        throw new ServiceError('VALIDATION_FAILED', 'body/current_password is not the current password')
      }
      const newHash = await hashPassword(newPassword)
      // Sessions first: should the update fail, the other sessions are gone and the old password
      // still stands, which is safe; the other order could leave an attacker's session alive.
      await sessions.endMany(claims.sub, { except: claims.sid }, clock.now())
      if (!(await users.updatePassword(claims.sub, newHash, toIso(clock.now())))) {
        throw new ServiceError('TOKEN_INVALID', 'the token belongs to no user')
      }
    }
  }
}
