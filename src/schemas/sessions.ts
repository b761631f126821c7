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

/** The most sessions GET /api/sessions shows on one page, and how many it shows when `limit` is not given. */
export const SESSION_PAGE_MAX = 100

/** GET /api/sessions?limit=&cursor= (query values are strings: the app does not coerce types). */
export const SessionsQuery = Type.Object({
  limit: Type.Optional(Type.String({ pattern: '^(?:[1-9][0-9]?|100)$', description: `sessions per page, 1 to ${SESSION_PAGE_MAX} [${SESSION_PAGE_MAX}]` })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$', description: 'the next_cursor of the previous page' }))
})

/** One page of the user's live sessions, oldest first (by created_at, then id). */
export const SessionList = Type.Object({
  sessions: Type.Array(Session),
  next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'the cursor of the next page; null on the last page' })
})

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
