import type { SessionRecord } from '../../schemas/sessions.js'
import { GARBAGE_DELAY_MS, LUA_EXPIRED, UnacknowledgedWriteError, type RedisScripts, type ScriptDefinition } from '../redis-scripts.js'
import { LUA_FEED, type FeedEvent, type FeedLayout } from '../revocation-feed.js'
import { pendingState, rotatedState, type NotBefore, type SessionStore } from './index.js'

/*
 * Key layout. Every key of one user carries the user's hash tag, {u:<sub>} (on Redis Cluster the tag
 * of the user's feed shard, {f:<k>}:u:<sub>: revocation-feed.ts), so that the keys a request touches
 * live in one slot: the per-request check stays one round trip, and the scripts below stay atomic, on
 * Redis Cluster too. Below, {u:<sub>} stands for that tag.
 *
 *   {u:<sub>}:s:<sid>     hash: the session (created_at, last_refreshed_at, auth_time, expires_at, user_agent, ip)
 *   {u:<sub>}:sessions    sorted set: sid -> last_refreshed_at (ms); who is ended first at MAX_SESSIONS_PER_USER
 *   {u:<sub>}:created     sorted set: sid -> created_at (ms); the listing order, (created_at, sid), which pages follow
 *   {u:<sub>}:nb          the user's not-before (ms): no session starts on credentials checked at or before it
 *   {u:<sub>}:v           the user's record version (record-versions.ts): INCR after every change of the record; no TTL
 *   {u:<sub>}:j:<jti>     the token's state (index.ts: p pending, x rotated, l logging out, r revoked); PXAT the token's exp
 *   {u:<sub>}:g:<jti>     the sealed first child of a rotated token, kept for the grace
 *   {u:<sub>}:e:<sid>     a session ended by DELETE /api/sessions/:id whose end is not yet acknowledged: until when (ms)
 *
 * Every revoking script also appends its event to the user's feed shard (revocation-feed.ts): an ended
 * session (evicted, reused, logged out, ended one by one or all at once), a rotated token, the rollback
 * of a rotation. Its last two KEYS are the shard's stream and generation, its last ARGV the events' keep time.
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
 * The previous release reads p and l as revoked, and x:<grace end>.<id> as its own x:<grace end>.
 */
// Every key below starts with the user's tag (FeedLayout.userTag).
const sessionKey = (tag: string, sid: string): string => `${tag}:s:${sid}`
const byRefreshKey = (tag: string): string => `${tag}:sessions`
const byCreationKey = (tag: string): string => `${tag}:created`
const notBeforeKey = (tag: string): string => `${tag}:nb`
const tokenKey = (tag: string, jti: string): string => `${tag}:j:${jti}`
const graceKey = (tag: string, jti: string): string => `${tag}:g:${jti}`
const endedKey = (tag: string, sid: string): string => `${tag}:e:${sid}`

// A session is live while its record exists and has not reached expires_at.
const LIVE = `
local function live(key, now)
  local expiresAt = redis.call('HGET', key, 'expires_at')
  return expiresAt ~= false and tonumber(expiresAt) > now
end
`

// The user's index: byRefresh (sid -> last_refreshed_at), byCreation (sid -> created_at), and the key
// prefix of the user's sessions (the client's prefix included: these keys are built here, in the
// index's slot). drop() ends one session and removes it from both.
const INDEX = `${LIVE}
local function drop(byRefresh, byCreation, prefix, sid)
  redis.call('DEL', prefix .. sid)
  redis.call('ZREM', byRefresh, sid)
  redis.call('ZREM', byCreation, sid)
end
`

// KEYS: session, byRefresh, byCreation, not-before, feed stream, feed generation.
// ARGV: sid, expires_at (ms), created_at = now (ms), auth_time (s), user_agent, ip, garbage at (ms),
//       checked at (ms), max sessions, key prefix of the user's sessions, events' until (ms), keep (ms).
// Returns {'refused'} or {'started', generation, evicted sid...}.
const START = `${INDEX}${LUA_FEED}
local gen = generation()
local notBefore = redis.call('GET', KEYS[4])
if notBefore and tonumber(notBefore) >= tonumber(ARGV[8]) then return {'refused'} end
local now = tonumber(ARGV[3])
local cap = tonumber(ARGV[9])
local result = {'started', gen}
if redis.call('ZCARD', KEYS[2]) >= cap then
  -- Sessions that ended without a script seeing them (their SESSION_TTL passed) lie at the old end of
  -- the creation order: collect them first, so that they do not take a place.
  while true do
    local oldest = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
    if not oldest or live(ARGV[10] .. oldest, now) then break end
    drop(KEYS[2], KEYS[3], ARGV[10], oldest)
  end
  local excess = redis.call('ZCARD', KEYS[2]) - cap + 1
  if excess > 0 then
    for _, sid in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do
      if live(ARGV[10] .. sid, now) then
        table.insert(result, sid)
        publish('s', sid, ARGV[11])
      end
      drop(KEYS[2], KEYS[3], ARGV[10], sid)
    end
  end
end
redis.call('HSET', KEYS[1], 'created_at', ARGV[3], 'last_refreshed_at', ARGV[3], 'auth_time', ARGV[4],
  'expires_at', ARGV[2], 'user_agent', ARGV[5], 'ip', ARGV[6])
redis.call('PEXPIREAT', KEYS[1], ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
for _, key in ipairs({KEYS[2], KEYS[3]}) do
  if redis.call('PEXPIRETIME', key) < tonumber(ARGV[7]) then redis.call('PEXPIREAT', key, ARGV[7]) end
end
return result`

// A pending rotation, p:<id>:<pending until>, whose bound has passed: its request has confirmed it or
// given up by then, so it counts as absent.
const LUA_DEAD = `
local function dead(state, now)
  if string.sub(state, 1, 2) ~= 'p:' then return false end
  local pendingUntil = tonumber(string.match(state, '^p:%d+:(%d+)$'))
  return pendingUntil ~= nil and pendingUntil <= now
end
`

// KEYS: token, session. ARGV: now (ms), token exp (ms).
// Returns 0 when the token may pass, 3 when it is ending (its logout awaits acknowledgement), else 1 or 2.
const CHECK = `${LIVE}${LUA_EXPIRED}${LUA_DEAD}
if expired(ARGV[2]) then return 1 end
local now = tonumber(ARGV[1])
local state = redis.call('GET', KEYS[1])
if state and not dead(state, now) then
  if state == 'l' then return 3 end
  return 1
end
if not live(KEYS[2], now) then return 2 end
return 0`

// KEYS: token, grace, session, byRefresh, byCreation, feed stream, feed generation.
// ARGV: token exp (ms), sealed child, grace (ms), now (ms), sid, garbage delay (ms), key prefix of the user's sessions,
//       this attempt's pending state, pending until (ms), jti, events' until (ms), the token's generation ('' if
//       it carries none), keep (ms).
// The whole decision is one script, so two refreshes of one token can never both rotate it. A token of another
// generation than the shard's is refused (the child carries the parent's).
const ROTATE = `${INDEX}${LUA_EXPIRED}${LUA_DEAD}${LUA_FEED}
if expired(ARGV[1]) then return {'revoked'} end
if ARGV[12] ~= '' and redis.call('GET', KEYS[#KEYS]) ~= ARGV[12] then return {'revoked'} end
local now = tonumber(ARGV[4])
local grace = tonumber(ARGV[3])
local state = redis.call('GET', KEYS[1])
if state and string.sub(state, 1, 2) == 'p:' then
  if not dead(state, now) then return {'pending'} end
  state = false
end
local alive = live(KEYS[3], now)
if state and string.sub(state, 1, 1) == 'x' and alive then
  local graceEnds = string.match(state, '^x:(%d+)') or '0'
  if now < tonumber(graceEnds) then
    local child = redis.call('GET', KEYS[2])
    -- No child within the grace: REFRESH_GRACE=0 and a request that began before the rotation (a late one).
    if not child then return {'revoked'} end
    -- Handed out from now on: no rollback may undo this rotation, and this write makes WAIT cover it.
    redis.call('SET', KEYS[1], 'x:' .. graceEnds, 'KEEPTTL')
    return {'repeated', child}
  end
  drop(KEYS[4], KEYS[5], ARGV[7], ARGV[5])
  publish('s', ARGV[5], ARGV[11])
  return {'reused'}
end
if state or not alive then return {'revoked'} end
redis.call('SET', KEYS[1], ARGV[8], 'PXAT', ARGV[1])
if grace > 0 then
  redis.call('SET', KEYS[2], ARGV[2], 'PXAT', tonumber(ARGV[9]) + grace + tonumber(ARGV[6]))
else
  redis.call('DEL', KEYS[2])
end
redis.call('HSET', KEYS[3], 'last_refreshed_at', ARGV[4])
redis.call('ZADD', KEYS[4], 'XX', ARGV[4], ARGV[5])
publish('j', ARGV[10], ARGV[1])
return {'rotated'}`

// KEYS: token. ARGV: this attempt's pending state, its rotated state. Returns 1 when confirmed.
const CONFIRM_ROTATION = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1`

// KEYS: token, grace, feed stream, feed generation. ARGV: this attempt's pending state, its rotated state, jti, keep (ms).
const ROLLBACK_ROTATION = `${LUA_FEED}
local state = redis.call('GET', KEYS[1])
if state ~= ARGV[1] and state ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
publish('a', ARGV[3], 0)
return 1`

// KEYS: token, byRefresh, byCreation, feed stream, feed generation.
// ARGV: token exp (ms), sid, key prefix of the user's sessions, events' until (ms), keep (ms).
const END = `${INDEX}${LUA_FEED}
if redis.call('GET', KEYS[1]) ~= 'r' then redis.call('SET', KEYS[1], 'l', 'PXAT', ARGV[1]) end
drop(KEYS[2], KEYS[3], ARGV[3], ARGV[2])
publish('s', ARGV[2], ARGV[4])
return 1`

// KEYS: token.
const CONFIRM_END = `
if redis.call('GET', KEYS[1]) ~= 'l' then return 0 end
redis.call('SET', KEYS[1], 'r', 'KEEPTTL')
return 1`

// KEYS: byRefresh, byCreation, the session's end marker ({u:<sub>}:e:<sid>), feed stream, feed generation.
// ARGV: key prefix of the user's sessions, sid, now (ms), pending until (ms), garbage delay (ms), events' until (ms), keep (ms).
// Returns 1 when the session was live, or its end is still unacknowledged (a retry: it is repeated).
const END_ONE = `${INDEX}${LUA_FEED}
local now = tonumber(ARGV[3])
local ended = live(ARGV[1] .. ARGV[2], now) or (tonumber(redis.call('GET', KEYS[3])) or 0) > now
drop(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
if not ended then return 0 end
redis.call('SET', KEYS[3], ARGV[4], 'PXAT', tonumber(ARGV[4]) + tonumber(ARGV[5]))
publish('s', ARGV[2], ARGV[6])
return 1`

// KEYS: the session's end marker.
const FORGET_END = `return redis.call('DEL', KEYS[1])`

// KEYS: byRefresh, byCreation, not-before, feed stream, feed generation.
// ARGV: key prefix of the user's sessions, mode (all | except), sid, now (ms),
//       not-before (ms, or '' to leave it), not-before garbage at (ms), events' until (ms), keep (ms).
// Returns {how many of the ended sessions were live, their sids...}. The not-before only moves forward.
const END_MANY = `${INDEX}${LUA_FEED}
local ended = {0}
local now = tonumber(ARGV[4])
local function finish(sid)
  if live(ARGV[1] .. sid, now) then
    ended[1] = ended[1] + 1
    table.insert(ended, sid)
    publish('s', sid, ARGV[7])
  end
  drop(KEYS[1], KEYS[2], ARGV[1], sid)
end
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if ARGV[2] == 'all' or sid ~= ARGV[3] then finish(sid) end
end
if ARGV[5] ~= '' then
  local current = tonumber(redis.call('GET', KEYS[3]) or '')
  local garbageAt = math.max(redis.call('PEXPIRETIME', KEYS[3]), tonumber(ARGV[6]))
  if current == nil or tonumber(ARGV[5]) > current then
    redis.call('SET', KEYS[3], ARGV[5], 'PXAT', garbageAt)
  else
    redis.call('PEXPIREAT', KEYS[3], garbageAt)
  end
end
return ended`

// KEYS: byCreation, byRefresh. ARGV: key prefix of the user's sessions, now (ms), limit,
// created_at of the cursor ('' for the first page), sid of the cursor.
// Returns up to limit + 1 live sessions after the cursor in (created_at, sid) order, the order in
// which Redis keeps members of equal score (bytewise); collects the ended sessions it meets.
// KEYS: token, session, not-before. ARGV: now (ms).
// Returns {denied until (ms) or -2, 1 when the session is live, not-before (ms) or false, kept until (ms) or -2}.
const INSPECT = `${LIVE}
local notBefore = redis.call('GET', KEYS[3])
return {
  redis.call('PEXPIRETIME', KEYS[1]),
  live(KEYS[2], tonumber(ARGV[1])) and 1 or 0,
  notBefore,
  notBefore and redis.call('PEXPIRETIME', KEYS[3]) or -2
}
`

const LIST = `${INDEX}
local now = tonumber(ARGV[2])
local want = tonumber(ARGV[3]) + 1
local rows, gone = {}, {}
local function consider(sid)
  if #rows >= want then return end
  local key = ARGV[1] .. sid
  if live(key, now) then
    local f = redis.call('HMGET', key, 'created_at', 'last_refreshed_at', 'auth_time', 'expires_at', 'user_agent', 'ip')
    table.insert(rows, {sid, f[1], f[2], f[3] or '0', f[4] or '0', f[5], f[6]})
  else
    table.insert(gone, sid)
  end
end
-- a > b as Redis orders members (bytewise): Lua's own comparison follows the server's locale.
local function after(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end
local from = '-inf'
if ARGV[4] ~= '' then
  for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], ARGV[4], ARGV[4], 'BYSCORE')) do
    if after(sid, ARGV[5]) then consider(sid) end
  end
  from = '(' .. ARGV[4]
end
local offset = 0
while #rows < want do
  local batch = redis.call('ZRANGE', KEYS[1], from, '+inf', 'BYSCORE', 'LIMIT', offset, want)
  for _, sid in ipairs(batch) do consider(sid) end
  if #batch < want then break end
  offset = offset + #batch
end
for _, sid in ipairs(gone) do drop(KEYS[2], KEYS[1], ARGV[1], sid) end
return rows`

export const SESSION_SCRIPTS: Record<string, ScriptDefinition> = {
  jwtSessionStart: { numberOfKeys: 6, lua: START },
  jwtSessionCheck: { numberOfKeys: 2, lua: CHECK },
  jwtSessionRotate: { numberOfKeys: 7, lua: ROTATE },
  jwtSessionConfirmRotation: { numberOfKeys: 1, lua: CONFIRM_ROTATION },
  jwtSessionRollbackRotation: { numberOfKeys: 4, lua: ROLLBACK_ROTATION },
  jwtSessionEnd: { numberOfKeys: 5, lua: END },
  jwtSessionConfirmEnd: { numberOfKeys: 1, lua: CONFIRM_END },
  jwtSessionEndOne: { numberOfKeys: 5, lua: END_ONE },
  jwtSessionForgetEnd: { numberOfKeys: 1, lua: FORGET_END },
  jwtSessionEndMany: { numberOfKeys: 5, lua: END_MANY },
  jwtSessionList: { numberOfKeys: 2, lua: LIST },
  jwtSessionInspect: { numberOfKeys: 3, lua: INSPECT }
}

/** The user's record version (record-versions.ts), in the user's hash slot. */
export const userVersionKey = (layout: FeedLayout) => (sub: string): string => `${layout.userTag(sub)}:v`

export interface RedisSessionStoreOptions {
  /** The client's key prefix, for the keys the scripts build themselves. */
  keyPrefix: string
  layout: FeedLayout
  /** ms: the longest a user token lives (ACCESS_TOKEN_TTL): an ended session's event is kept that long. */
  tokenLifetimeMs: number
  /** ms: how long the feed keeps an event (revocation-feed.ts). */
  feedKeepMs: number
  /** Told the events of each revoking write once Redis ran it: the instance's own replica applies them before the answer. */
  published: (events: FeedEvent[]) => void
}

/** The Redis session store. */
export function createRedisSessionStore(scripts: RedisScripts, options: RedisSessionStoreOptions): SessionStore {
  const { keyPrefix, layout, tokenLifetimeMs, feedKeepMs, published } = options
  const tagOf = layout.userTag
  const sessionPrefix = (tag: string): string => `${keyPrefix}${sessionKey(tag, '')}`
  const index = (tag: string): [string, string] => [byRefreshKey(tag), byCreationKey(tag)]
  const feed = layout.feedKeysOf
  /** Every token of a session ended at `now` has expired by then. */
  const endedUntil = (now: number): number => now + tokenLifetimeMs
  const sessionsEnded = (sids: string[], now: number): void => {
    if (sids.length > 0) published(sids.map((id) => ({ kind: 'session', id, until: endedUntil(now) })))
  }

  async function endMany(sub: string, mode: 'all' | 'except', sid: string, now: number, notBefore?: NotBefore): Promise<number> {
    const tag = tagOf(sub)
    const [ended, ...sids] = await scripts.revoke<[number, ...string[]]>(
      'jwtSessionEndMany',
      ...index(tag), notBeforeKey(tag), ...feed(tag),
      sessionPrefix(tag), mode, sid, now,
      notBefore === undefined ? '' : notBefore.at,
      notBefore === undefined ? '' : notBefore.at + notBefore.keepMs + GARBAGE_DELAY_MS,
      endedUntil(now), feedKeepMs
    )
    sessionsEnded(sids, now)
    return ended
  }

  return {
    async start(session, { checkedAt, maxSessions }) {
      const tag = tagOf(session.sub)
      const [outcome, generation, ...evicted] = await scripts.run<string[]>(
        'jwtSessionStart',
        sessionKey(tag, session.sid), ...index(tag), notBeforeKey(tag), ...feed(tag),
        session.sid, session.expires_at, session.created_at, session.auth_time, session.user_agent, session.ip,
        session.expires_at + GARBAGE_DELAY_MS, checkedAt, maxSessions, sessionPrefix(tag), endedUntil(session.created_at), feedKeepMs
      )
      if (outcome === 'refused') return { outcome }
      sessionsEnded(evicted, session.created_at)
      return { outcome: 'started', evicted, generation: Number(generation) }
    },

    async check({ sub, sid, jti, exp }, now) {
      const tag = tagOf(sub)
      const verdict = await scripts.run<number>('jwtSessionCheck', tokenKey(tag, jti), sessionKey(tag, sid), now, exp * 1000)
      return verdict === 0 ? 'active' : verdict === 3 ? 'ending' : 'revoked'
    },

    async rotate({ sub, sid, jti, exp, gen }, rotation) {
      const tag = tagOf(sub)
      let answer: [string, string?]
      try {
        answer = await scripts.revoke<[string, string?]>(
          'jwtSessionRotate',
          tokenKey(tag, jti), graceKey(tag, jti), sessionKey(tag, sid), ...index(tag), ...feed(tag),
          exp * 1000, rotation.sealedChild, rotation.graceMs, rotation.now, sid, GARBAGE_DELAY_MS, sessionPrefix(tag),
          pendingState(rotation), rotation.pendingUntil, jti, endedUntil(rotation.now), gen ?? '', feedKeepMs
        )
      } catch (error) {
        const outcome = error instanceof UnacknowledgedWriteError ? (error.result as string[] | undefined)?.[0] : undefined
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
      const [outcome, child] = answer
      if (outcome === 'repeated') return { outcome, sealedChild: child! }
      if (outcome === 'reused') {
        sessionsEnded([sid], rotation.now)
        return { outcome, acknowledged: true }
      }
      if (outcome === 'rotated') published([{ kind: 'token', id: jti, until: exp * 1000 }])
      return { outcome: outcome as 'rotated' | 'revoked' | 'pending' }
    },

    async confirmRotation({ sub, jti }, rotation) {
      return (await scripts.revoke<number>('jwtSessionConfirmRotation', tokenKey(tagOf(sub), jti), pendingState(rotation), rotatedState(rotation))) === 1
    },

    async rollbackRotation({ sub, jti }, rotation) {
      const tag = tagOf(sub)
      const restored = await scripts.followUp<number>(
        'jwtSessionRollbackRotation',
        tokenKey(tag, jti), graceKey(tag, jti), ...feed(tag), pendingState(rotation), rotatedState(rotation), jti, feedKeepMs
      )
      if (restored === 1) published([{ kind: 'restored', id: jti }])
    },

    async end({ sub, sid, jti, exp }, now) {
      const tag = tagOf(sub)
      await scripts.revoke('jwtSessionEnd', tokenKey(tag, jti), ...index(tag), ...feed(tag), exp * 1000, sid, sessionPrefix(tag), endedUntil(now), feedKeepMs)
      sessionsEnded([sid], now)
    },

    async confirmEnd({ sub, jti }) {
      await scripts.followUp('jwtSessionConfirmEnd', tokenKey(tagOf(sub), jti))
    },

    async endOne(sub, sid, { now, pendingUntil }) {
      const tag = tagOf(sub)
      const ended = await scripts.revoke<number>(
        'jwtSessionEndOne',
        ...index(tag), endedKey(tag, sid), ...feed(tag),
        sessionPrefix(tag), sid, now, pendingUntil, GARBAGE_DELAY_MS, endedUntil(now), feedKeepMs
      )
      if (ended === 1) sessionsEnded([sid], now)
      return ended === 1
    },

    async confirmEndOne(sub, sid) {
      await scripts.followUp('jwtSessionForgetEnd', endedKey(tagOf(sub), sid))
    },

    async endMany(sub, which, now) {
      return 'all' in which ? endMany(sub, 'all', '', now) : endMany(sub, 'except', which.except, now)
    },

    async endSessionsAndSetNotBefore(sub, which, notBefore) {
      return 'all' in which ? endMany(sub, 'all', '', notBefore.at, notBefore) : endMany(sub, 'except', which.except, notBefore.at, notBefore)
    },

    async list(sub, { limit, after }, now) {
      const tag = tagOf(sub)
      const rows = await scripts.run<string[][]>(
        'jwtSessionList',
        byCreationKey(tag), byRefreshKey(tag),
        sessionPrefix(tag), now, limit, after?.created_at ?? '', after?.sid ?? ''
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
      const [deniedUntil, live, notBefore, keptUntil] = await scripts.run<[number, number, string | null, number]>(
        'jwtSessionInspect',
        tokenKey(tag, jti), sessionKey(tag, sid), notBeforeKey(tag), now
      )
      return {
        deniedUntil: deniedUntil > 0 ? deniedUntil : undefined,
        sessionLive: live === 1,
        notBefore: notBefore === null ? undefined : { at: Number(notBefore), keptUntil }
      }
    }
  }
}
