import type { SessionRecord } from '../../schemas/sessions.js'
import { FEED_KEYS, type FeedEvent, type FeedLayout, LUA_FEED, luaScript, luaSource, reply } from '@jwt-auth-service/verifier/feed'
import { GARBAGE_DELAY_MS, LUA_EXPIRED, UnacknowledgedWriteError, type RedisScripts } from '../redis-scripts.js'
import type { NotBefore, SessionStore } from './index.js'
import { pendingState, rotatedState } from './token-state.js'

/*
 * Key layout. Every key of one user carries the user's hash tag, {u:<sub>} (on Redis Cluster the tag
 * of the user's feed shard, {f:<k>}:u:<sub>: the verifier package's feed/protocol.ts), so that the keys a request touches
 * live in one slot: the per-request check stays one round trip, and the scripts below stay atomic, on
 * Redis Cluster too. Below, {u:<sub>} stands for that tag.
 *
 *   {u:<sub>}:s:<sid>     hash: the session (created_at, last_refreshed_at, auth_time, expires_at, user_agent, ip)
 *   {u:<sub>}:sessions    sorted set: sid -> last_refreshed_at (ms); who is ended first at MAX_SESSIONS_PER_USER
 *   {u:<sub>}:created     sorted set: sid -> created_at (ms); the listing order, (created_at, sid), which pages follow
 *   {u:<sub>}:nb          the user's not-before (ms): no session starts on credentials checked at or before it
 *   {u:<sub>}:v           the user's record version (record-versions.ts): INCR after every change of the record; no TTL
 *   {u:<sub>}:j:<jti>     the token's state (token-state.ts: p pending, x rotated, l logging out, r revoked); PXAT the token's exp
 *   {u:<sub>}:g:<jti>     the sealed first child of a rotated token, kept for the grace
 *   {u:<sub>}:e:<sid>     a session ended by DELETE /api/sessions/:id whose end is not yet acknowledged: until when (ms)
 *
 * Every revoking script also appends its event to the user's feed shard (feed/protocol.ts): an ended
 * session (evicted, reused, logged out, ended one by one or all at once), a rotated token, the rollback
 * of a rotation (keys feedStream and feedGeneration, argument feedKeep: ../lua/feed.lua).
 *
 * The scripts are the .lua files in lua/, one per operation, defined below with the names of their keys
 * and arguments (../lua.ts).
 *
 * The two sorted sets index the same sessions: every script that adds or removes a session does both.
 * Entries whose session has ended are collected by the scripts that meet them.
 *
 * Bounds: a login at MAX_SESSIONS_PER_USER ends the excess, so a user's index holds at most the cap
 * (and sessions that ended without a script seeing them, collected when met); the listing reads one
 * page, the other scripts one session or, for "every session", the user's index.
 *
 * Every time decision compares a stored time with ARGV `now`, the service's clock. PEXPIREAT only
 * collects garbage, GARBAGE_DELAY_MS after nothing can depend on the key any more; the one exception is
 * the deny-list entry, which lives exactly as long as its token (README, "How revocation works"), hence `expired()`.
 *
 * Retry-safe revoking writes. With REDIS_WAIT_REPLICAS a write may run on the master and still be
 * answered 503 (too few replicas acknowledged it in time), and any write may time out and then run
 * late, when Redis was only slow. The client retries after a 503; so what a 503 leaves behind must let
 * the retry succeed, and must never turn it into reuse:
 *
 * - Refresh is pending, then confirmed. ROTATE writes p:<id>:<pending until> (and the sealed child);
 *   once its WAIT succeeded, CONFIRM turns exactly that value into x:<grace end>.<id>, with its own
 *   WAIT; then 200. If either fails, ROLLBACK deletes the state and the child if they still hold
 *   this attempt's value (followUp: the same connection, so Redis runs it after the write, even late),
 *   then 503. A pending state is refused by CHECK until <pending until> (REDIS_COMMAND_TIMEOUT_MS +
 *   REDIS_WAIT_TIMEOUT_MS after the attempt began, by the service's clock), and dead after it: as if
 *   absent, to CHECK and to ROTATE. So the presented token works again at once when the rollback
 *   arrives, within that bound when it does not, and a ROTATE that runs after its request gave up is
 *   inert. A refresh that meets a live pending state gets `pending` (the service asks again for as
 *   long as that bound, then answers 503), never reuse. A late CONFIRM or ROLLBACK finds another value
 *   and does nothing. A repeat within the grace rewrites the state as x:<grace end> before it hands
 *   the child out: no rollback can undo a rotation whose child left, and its WAIT covers the state.
 * - Logout marks the token l (not r) and ends its session; once acknowledged, CONFIRM_END makes it r.
 *   An l token is refused everywhere but by the logout, which repeats the end (idempotent) with its
 *   WAIT: a retried logout gets 200, a logout after an acknowledged one 401.
 * - DELETE /api/sessions/:id writes {u:<sub>}:e:<sid> = <pending until> with the end; a repeat while it
 *   holds repeats the end and answers as the first would have; once acknowledged it is deleted.
 * - Every other end (logout of the other sessions, a password change) leaves the token's own session
 *   alive, so its retry just runs again.
 * Late revocations (a logout or session end that Redis runs after its request gave up) apply as asked:
 * they only ever end what the user asked to end. (The client never sends a command again after its
 * connection dropped: redis-connection.ts.)
 * What remains (README, Retries after a 503): a CONFIRM that ran but whose ROLLBACK cannot reach Redis
 * (the connection drops in between; or a failover with the CONFIRM on the replica only) leaves the
 * rotation confirmed after a 503: its retry gets the child within the grace, and is reuse after it.
 */
// Every key below starts with the user's tag (FeedLayout.userTag).
const sessionKey = (tag: string, sid: string): string => `${tag}:s:${sid}`
const byRefreshKey = (tag: string): string => `${tag}:sessions`
const byCreationKey = (tag: string): string => `${tag}:created`
const notBeforeKey = (tag: string): string => `${tag}:nb`
const tokenKey = (tag: string, jti: string): string => `${tag}:j:${jti}`
const graceKey = (tag: string, jti: string): string => `${tag}:g:${jti}`
const endedKey = (tag: string, sid: string): string => `${tag}:e:${sid}`

const LUA_INDEX = luaSource(new URL('./lua/index.lua', import.meta.url))
const LUA_DEAD = luaSource(new URL('./lua/dead.lua', import.meta.url))
const script = (name: string): URL => new URL(`./lua/${name}.lua`, import.meta.url)
/** How long the feed keeps an event (ms): the last argument of every script that publishes one. */
const FEED_KEEP = 'feedKeep'

const started = (value: unknown): StartReply => {
  const [outcome, generation, ...evicted] = reply.strings(value)
  if (outcome === 'refused') return { outcome }
  if (outcome === 'started' && generation !== undefined) return { outcome, generation: Number(generation), evicted }
  throw new TypeError(`not an answer of jwtSessionStart: ${JSON.stringify(value)}`)
}
type StartReply = { outcome: 'refused' } | { outcome: 'started'; generation: number; evicted: string[] }

const rotated = (value: unknown): RotateReply => {
  const [outcome, child] = reply.strings(value)
  if (outcome === 'repeated' && child !== undefined) return { outcome, sealedChild: child }
  if (outcome === 'rotated' || outcome === 'revoked' || outcome === 'pending' || outcome === 'reused') return { outcome }
  throw new TypeError(`not an answer of jwtSessionRotate: ${JSON.stringify(value)}`)
}
type RotateReply = { outcome: 'rotated' | 'revoked' | 'pending' | 'reused' } | { outcome: 'repeated'; sealedChild: string }

const START = luaScript({
  command: 'jwtSessionStart',
  source: script('start'),
  libraries: [LUA_INDEX, LUA_FEED],
  keys: ['session', 'byRefresh', 'byCreation', 'notBefore', ...FEED_KEYS],
  args: ['sid', 'expiresAt', 'now', 'authTime', 'userAgent', 'ip', 'garbageAt', 'checkedAt', 'maxSessions', 'sessionPrefix', 'eventsUntil', 'firstJti', FEED_KEEP],
  decode: started
})

const CHECK = luaScript({
  command: 'jwtSessionCheck',
  source: script('check'),
  libraries: [LUA_INDEX, LUA_EXPIRED, LUA_DEAD],
  keys: ['token', 'session'],
  args: ['now', 'exp'],
  decode: reply.integer
})

const ROTATE = luaScript({
  command: 'jwtSessionRotate',
  source: script('rotate'),
  libraries: [LUA_INDEX, LUA_EXPIRED, LUA_DEAD, LUA_FEED],
  keys: ['token', 'grace', 'session', 'byRefresh', 'byCreation', ...FEED_KEYS],
  args: ['exp', 'usableUntil', 'sealedChild', 'graceMs', 'now', 'sid', 'garbageDelay', 'sessionPrefix', 'pendingState', 'pendingUntil', 'jti', 'eventsUntil', 'generation', FEED_KEEP],
  decode: rotated
})

const CONFIRM_ROTATION = luaScript({
  command: 'jwtSessionConfirmRotation',
  source: script('confirm-rotation'),
  keys: ['token', 'session'],
  args: ['pendingState', 'rotatedState', 'childJti'],
  decode: reply.integer
})

const ROLLBACK_ROTATION = luaScript({
  command: 'jwtSessionRollbackRotation',
  source: script('rollback-rotation'),
  libraries: [LUA_FEED],
  keys: ['token', 'grace', ...FEED_KEYS],
  args: ['pendingState', 'rotatedState', 'jti', FEED_KEEP],
  decode: reply.integer
})

const END = luaScript({
  command: 'jwtSessionEnd',
  source: script('end'),
  libraries: [LUA_INDEX, LUA_FEED],
  keys: ['token', 'byRefresh', 'byCreation', ...FEED_KEYS],
  args: ['exp', 'sid', 'sessionPrefix', 'eventsUntil', FEED_KEEP],
  decode: reply.integer
})

const CONFIRM_END = luaScript({ command: 'jwtSessionConfirmEnd', source: script('confirm-end'), keys: ['token'], args: [], decode: reply.integer })

const END_ONE = luaScript({
  command: 'jwtSessionEndOne',
  source: script('end-one'),
  libraries: [LUA_INDEX, LUA_FEED],
  keys: ['byRefresh', 'byCreation', 'ended', ...FEED_KEYS],
  args: ['sessionPrefix', 'sid', 'now', 'pendingUntil', 'garbageDelay', 'eventsUntil', FEED_KEEP],
  decode: reply.integer
})

const FORGET_END = luaScript({ command: 'jwtSessionForgetEnd', source: script('forget-end'), keys: ['ended'], args: [], decode: reply.integer })

const END_MANY = luaScript({
  command: 'jwtSessionEndMany',
  source: script('end-many'),
  libraries: [LUA_INDEX, LUA_FEED],
  keys: ['byRefresh', 'byCreation', 'notBefore', ...FEED_KEYS],
  args: ['sessionPrefix', 'mode', 'sid', 'now', 'notBefore', 'notBeforeGarbageAt', 'eventsUntil', FEED_KEEP],
  decode: (value) => {
    const [ended, ...sids] = reply.strings(value)
    return { ended: Number(ended), sids }
  }
})

const LIST = luaScript({
  command: 'jwtSessionList',
  source: script('list'),
  libraries: [LUA_INDEX],
  keys: ['byCreation', 'byRefresh'],
  args: ['sessionPrefix', 'now', 'limit', 'afterCreatedAt', 'afterSid'],
  decode: (value) => {
    if (!Array.isArray(value)) throw new TypeError(`not a list of sessions: ${JSON.stringify(value)}`)
    return value.map((row) => reply.optionalStrings(row))
  }
})

const INSPECT = luaScript({
  command: 'jwtSessionInspect',
  source: script('inspect'),
  libraries: [LUA_INDEX],
  keys: ['token', 'session', 'notBefore'],
  args: ['now'],
  decode: (value) => {
    const [deniedUntil, live, notBefore, keptUntil] = reply.optionalStrings(value)
    return { deniedUntil: Number(deniedUntil), live: live === '1', notBefore, keptUntil: Number(keptUntil) }
  }
})

export const SESSION_SCRIPTS = [START, CHECK, ROTATE, CONFIRM_ROTATION, ROLLBACK_ROTATION, END, CONFIRM_END, END_ONE, FORGET_END, END_MANY, LIST, INSPECT]

/** The user's record version (record-versions.ts), in the user's hash slot. */
export const userVersionKey = (layout: FeedLayout) => (sub: string): string => `${layout.userTag(sub)}:v`

export interface RedisSessionStoreOptions {
  /** The client's key prefix, for the keys the scripts build themselves. */
  keyPrefix: string
  layout: FeedLayout
  /** ms: the longest a user token lives (ACCESS_TOKEN_TTL): an ended session's event is kept that long. */
  tokenLifetimeMs: number
  /** ms: how long the feed keeps an event (feed/protocol.ts). */
  feedKeepMs: number
  /** Told the events of each revoking write once Redis ran it: the instance's own replica applies them before the answer. */
  published: (events: FeedEvent[]) => void
}

/** The Redis session store. */
export function createRedisSessionStore(scripts: RedisScripts, options: RedisSessionStoreOptions): SessionStore {
  const { keyPrefix, layout, tokenLifetimeMs, feedKeepMs, published } = options
  const tagOf = layout.userTag
  const sessionPrefix = (tag: string): string => `${keyPrefix}${sessionKey(tag, '')}`
  const index = (tag: string): { byRefresh: string; byCreation: string } => ({ byRefresh: byRefreshKey(tag), byCreation: byCreationKey(tag) })
  const feed = layout.feedKeysOf
  /** Every token of a session ended at `now` has expired by then. */
  const endedUntil = (now: number): number => now + tokenLifetimeMs
  const sessionsEnded = (sids: string[], now: number): void => {
    if (sids.length > 0) published(sids.map((id) => ({ kind: 'session', id, until: endedUntil(now) })))
  }

  async function endMany(sub: string, mode: 'all' | 'except', sid: string, now: number, notBefore?: NotBefore): Promise<number> {
    const tag = tagOf(sub)
    const { ended, sids } = await scripts.revoke(
      END_MANY,
      { ...index(tag), notBefore: notBeforeKey(tag), ...feed(tag) },
      {
        sessionPrefix: sessionPrefix(tag), mode, sid, now,
        notBefore: notBefore === undefined ? '' : notBefore.at,
        notBeforeGarbageAt: notBefore === undefined ? '' : notBefore.at + notBefore.keepMs + GARBAGE_DELAY_MS,
        eventsUntil: endedUntil(now), feedKeep: feedKeepMs
      }
    )
    sessionsEnded(sids, now)
    return ended
  }

  return {
    async start(session, { checkedAt, maxSessions, firstJti }) {
      const tag = tagOf(session.sub)
      const answer = await scripts.run(
        START,
        { session: sessionKey(tag, session.sid), ...index(tag), notBefore: notBeforeKey(tag), ...feed(tag) },
        {
          sid: session.sid, expiresAt: session.expires_at, now: session.created_at, authTime: session.auth_time,
          userAgent: session.user_agent, ip: session.ip, garbageAt: session.expires_at + GARBAGE_DELAY_MS, checkedAt, maxSessions,
          sessionPrefix: sessionPrefix(tag), eventsUntil: endedUntil(session.created_at), feedKeep: feedKeepMs, firstJti
        }
      )
      if (answer.outcome === 'started') sessionsEnded(answer.evicted, session.created_at)
      return answer
    },

    async check({ sub, sid, jti, exp }, now) {
      const tag = tagOf(sub)
      const verdict = await scripts.run(CHECK, { token: tokenKey(tag, jti), session: sessionKey(tag, sid) }, { now, exp: exp * 1000 })
      return verdict === 0 ? 'active' : verdict === 3 ? 'ending' : 'revoked'
    },

    async rotate({ sub, sid, jti, exp, gen }, rotation) {
      const tag = tagOf(sub)
      let answer: RotateReply
      try {
        answer = await scripts.revoke(
          ROTATE,
          { token: tokenKey(tag, jti), grace: graceKey(tag, jti), session: sessionKey(tag, sid), ...index(tag), ...feed(tag) },
          {
            exp: exp * 1000, usableUntil: rotation.usableUntil, sealedChild: rotation.sealedChild, graceMs: rotation.graceMs, now: rotation.now, sid,
            garbageDelay: GARBAGE_DELAY_MS, sessionPrefix: sessionPrefix(tag), pendingState: pendingState(rotation),
            pendingUntil: rotation.pendingUntil, jti, eventsUntil: endedUntil(rotation.now), generation: gen ?? '', feedKeep: feedKeepMs
          }
        )
      } catch (error) {
        const outcome = error instanceof UnacknowledgedWriteError ? (error.result as RotateReply).outcome : undefined
        // A reuse is reported even when its revocation is not yet safe on enough replicas.
        if (outcome === 'reused') {
          sessionsEnded([sid], rotation.now)
          return { outcome, acknowledged: false }
        }
        // Written on the master: refused here at once, whatever becomes of it (its rollback restores it).
        if (outcome === 'rotated') published([{ kind: 'token', id: jti, until: exp * 1000 }])
        // These wrote nothing that the WAIT was for: the answer stands.
        if (outcome === 'revoked' || outcome === 'pending') return { outcome }
        throw error
      }
      if (answer.outcome === 'repeated') return answer
      if (answer.outcome === 'reused') {
        sessionsEnded([sid], rotation.now)
        return { outcome: answer.outcome, acknowledged: true }
      }
      if (answer.outcome === 'rotated') published([{ kind: 'token', id: jti, until: rotation.usableUntil }])
      return { outcome: answer.outcome }
    },

    async confirmRotation({ sub, sid, jti }, rotation) {
      const tag = tagOf(sub)
      const confirmed = await scripts.revoke(
        CONFIRM_ROTATION,
        { token: tokenKey(tag, jti), session: sessionKey(tag, sid) },
        { pendingState: pendingState(rotation), rotatedState: rotatedState(rotation), childJti: rotation.childJti }
      )
      return confirmed === 1
    },

    async rollbackRotation({ sub, jti }, rotation) {
      const tag = tagOf(sub)
      const restored = await scripts.followUp(
        ROLLBACK_ROTATION,
        { token: tokenKey(tag, jti), grace: graceKey(tag, jti), ...feed(tag) },
        { pendingState: pendingState(rotation), rotatedState: rotatedState(rotation), jti, feedKeep: feedKeepMs }
      )
      if (restored === 1) published([{ kind: 'restored', id: jti }])
    },

    async end({ sub, sid, jti, exp }, now) {
      const tag = tagOf(sub)
      await scripts.revoke(
        END,
        { token: tokenKey(tag, jti), ...index(tag), ...feed(tag) },
        { exp: exp * 1000, sid, sessionPrefix: sessionPrefix(tag), eventsUntil: endedUntil(now), feedKeep: feedKeepMs }
      )
      sessionsEnded([sid], now)
    },

    async confirmEnd({ sub, jti }) {
      await scripts.followUp(CONFIRM_END, { token: tokenKey(tagOf(sub), jti) }, {})
    },

    async endOne(sub, sid, { now, pendingUntil }) {
      const tag = tagOf(sub)
      const ended = await scripts.revoke(
        END_ONE,
        { ...index(tag), ended: endedKey(tag, sid), ...feed(tag) },
        { sessionPrefix: sessionPrefix(tag), sid, now, pendingUntil, garbageDelay: GARBAGE_DELAY_MS, eventsUntil: endedUntil(now), feedKeep: feedKeepMs }
      )
      if (ended === 1) sessionsEnded([sid], now)
      return ended === 1
    },

    async confirmEndOne(sub, sid) {
      await scripts.followUp(FORGET_END, { ended: endedKey(tagOf(sub), sid) }, {})
    },

    async endMany(sub, which, now) {
      return 'all' in which ? endMany(sub, 'all', '', now) : endMany(sub, 'except', which.except, now)
    },

    async endSessionsAndSetNotBefore(sub, which, notBefore) {
      return 'all' in which ? endMany(sub, 'all', '', notBefore.at, notBefore) : endMany(sub, 'except', which.except, notBefore.at, notBefore)
    },

    async list(sub, { limit, after }, now) {
      const tag = tagOf(sub)
      const rows = await scripts.run(
        LIST,
        index(tag),
        { sessionPrefix: sessionPrefix(tag), now, limit, afterCreatedAt: after?.created_at ?? '', afterSid: after?.sid ?? '' }
      )
      const sessions = rows.map(([sid, createdAt, lastRefreshedAt, authTime, expiresAt, userAgent, ip]): SessionRecord => ({
        sid: sid!,
        sub,
        created_at: Number(createdAt),
        last_refreshed_at: Number(lastRefreshedAt),
        auth_time: Number(authTime),
        expires_at: Number(expiresAt),
        user_agent: userAgent ?? '',
        ip: ip ?? ''
      }))
      return { sessions: sessions.slice(0, limit), more: sessions.length > limit }
    },

    async inspect({ sub, sid, jti }, now) {
      const tag = tagOf(sub)
      const { deniedUntil, live, notBefore, keptUntil } = await scripts.run(
        INSPECT,
        { token: tokenKey(tag, jti), session: sessionKey(tag, sid), notBefore: notBeforeKey(tag) },
        { now }
      )
      return {
        deniedUntil: deniedUntil > 0 ? deniedUntil : undefined,
        sessionLive: live,
        notBefore: notBefore === null ? undefined : { at: Number(notBefore), keptUntil }
      }
    }
  }
}
