import { randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import { ServiceError } from '../errors.js'
import { openChild, sealChild } from '../keys/rotation-seal.js'
import type { TokenResponse } from '../schemas/common.js'
import type { User } from '../stores/users/index.js'
import { decodePart, type UserClaims } from './tokens.js'

export interface ClientInfo {
  userAgent: string
  ip: string
}

export interface Sessions {
  /** Starts a session and returns its first token. */
  login(user: User, client: ClientInfo): Promise<{ response: TokenResponse; sid: string }>
  /**
   * Rotates the presented token into its one child (see RevocationStore.rotate); `repeated` when the
   * parent was rotated before and this is the same child again, within the grace.
   */
  refresh(token: string, claims: UserClaims): Promise<{ response: TokenResponse; repeated: boolean }>
  /** Revokes the token and ends its session (`local`), every session of the user, or every other one. */
  logout(claims: UserClaims, scope: LogoutScope): Promise<void>
}

export type LogoutScope = 'local' | 'global' | 'others'

declare module 'fastify' {
  interface FastifyInstance {
    sessions: Sessions
  }
}

const seconds = (ms: number): number => Math.floor(ms / 1000)

function tokenResponse(token: string, exp: number, now: number): TokenResponse {
  return { access_token: token, token_type: 'bearer', expires_in: Math.max(0, exp - seconds(now)) }
}

/** `exp` of a token we signed ourselves (a child handed out again during the grace). */
const expiryOf = (token: string): number => Number(decodePart(token, 1)?.exp)

export default fp(
  async function sessions(fastify) {
    const { config, tokens, revocations } = fastify

    /** No token outlives its session: exp <= auth_time + SESSION_TTL. */
    function expiryFor(iat: number, authTime: number): number {
      return Math.min(iat + config.ACCESS_TOKEN_TTL, authTime + config.SESSION_TTL)
    }

    fastify.decorate<Sessions>('sessions', {
      async login(user, client) {
        const now = Date.now()
        const authTime = seconds(now)
        const sid = randomBytes(16).toString('base64url')
        await revocations.startSession({
          sub: user.id,
          sid,
          authTime,
          expiresAt: (authTime + config.SESSION_TTL) * 1000,
          createdAt: now,
          userAgent: client.userAgent,
          ip: client.ip
        })
        const exp = expiryFor(authTime, authTime)
        const { token } = tokens.signUserToken({ sub: user.id, sid, auth_time: authTime, iat: authTime, exp })
        return { response: tokenResponse(token, exp, now), sid }
      },

      async refresh(parentToken, parent) {
        const now = Date.now()
        const iat = seconds(now)
        if (parent.auth_time + config.SESSION_TTL <= iat) throw new ServiceError('SESSION_EXPIRED')
        const exp = expiryFor(iat, parent.auth_time)
        // Signed before the atomic step, so that the step can keep it for the grace.
        const child = tokens.signUserToken({ sub: parent.sub, sid: parent.sid, auth_time: parent.auth_time, iat, exp })
        const result = await revocations.rotate(parent, {
          sealedChild: sealChild(parentToken, child.token),
          graceMs: config.REFRESH_GRACE * 1000,
          now
        })
        switch (result.outcome) {
          case 'rotated':
            return { response: tokenResponse(child.token, exp, now), repeated: false }
          case 'repeated': {
            const first = openChild(parentToken, result.sealedChild)
            if (first === undefined) throw new ServiceError('TOKEN_REVOKED')
            return { response: tokenResponse(first, expiryOf(first), now), repeated: true }
          }
          case 'reused':
            throw new ServiceError('TOKEN_REUSED')
          case 'revoked':
            throw new ServiceError('TOKEN_REVOKED')
        }
      },

      async logout(claims, scope) {
        // The other sessions first: if a later step fails, a retry with the same token still works.
        if (scope === 'others') {
          await revocations.endSessions(claims.sub, { except: claims.sid })
          return
        }
        if (scope === 'global') await revocations.endSessions(claims.sub, { all: true })
        await revocations.endSession(claims)
      }
    })
  },
  { name: 'sessions', dependencies: ['config', 'tokens', 'stores'] }
)
