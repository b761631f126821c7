import Type, { type Static } from 'typebox'

/** A session as GET /api/sessions shows it. */
export const Session = Type.Object({
  id: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  last_refreshed_at: Type.String({ format: 'date-time' }),
  user_agent: Type.String(),
  ip: Type.String(),
  current: Type.Boolean({ description: 'the session of the token that asks' })
})
export type Session = Static<typeof Session>

/** A live session as the session stores keep it; times in milliseconds. */
export const SessionRecord = Type.Object({
  sid: Type.String(),
  sub: Type.String(),
  /** When the session began, in seconds (the `auth_time` claim). */
  auth_time: Type.Integer(),
  /** When the session ends for good, in milliseconds: auth_time + SESSION_TTL. */
  expires_at: Type.Integer(),
  created_at: Type.Integer(),
  last_refreshed_at: Type.Integer(),
  user_agent: Type.String(),
  ip: Type.String()
})
export type SessionRecord = Static<typeof SessionRecord>

/** Where a login comes from, as the session list shows it. */
export interface ClientInfo {
  user_agent: string
  ip: string
}
