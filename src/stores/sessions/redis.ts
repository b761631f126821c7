import type { SessionRecord } from '../../schemas/sessions.js'
import { GARBAGE_DELAY_MS, LUA_EXPIRED, type RedisScripts, type ScriptDefinition } from '../redis-scripts.js'
import type { SessionStore } from './index.js'

/*
 * Key layout. Every key of one user carries the hash tag {u:<sub>}, so that the keys a request
 * touches live in one slot: the per-request check stays one round trip, and the scripts below stay
 * atomic, on Redis Cluster too.
 *
 *   {u:<sub>}:s:<sid>     hash: the session (created_at, last_refreshed_at, auth_time, expires_at, user_agent, ip)
 *   {u:<sub>}:sessions    set of the user's session ids (an index, pruned lazily)
 *   {u:<sub>}:j:<jti>     "r" (revoked) or "x:<grace end, ms>" (rotated); PXAT the token's exp
 *   {u:<sub>}:g:<jti>     the sealed first child of a rotated token, kept for the grace
 *
 * Every time decision compares a stored time with ARGV `now`, the service's clock. PEXPIREAT only
 * collects garbage, GARBAGE_DELAY_MS after nothing can depend on the key any more; the one exception is
 * the deny-list entry, which SPEC.md has live exactly as long as its token, hence `expired()`.
 */
const tag = (sub: string): string => `{u:${sub}}`
const sessionKey = (sub: string, sid: string): string => `${tag(sub)}:s:${sid}`
const sessionIndexKey = (sub: string): string => `${tag(sub)}:sessions`
const tokenKey = (sub: string, jti: string): string => `${tag(sub)}:j:${jti}`
const graceKey = (sub: string, jti: string): string => `${tag(sub)}:g:${jti}`

// A session is live while its record exists and has not reached expires_at (records written by the
// previous release have no expires_at; their TTL still ends them).
const LIVE = `
local function live(key, now)
  local fields = redis.call('HMGET', key, 'created_at', 'expires_at')
  return fields[1] ~= false and (fields[2] == false or tonumber(fields[2]) > now)
end
`

// KEYS: session, session index. ARGV: sid, expires_at (ms), created_at (ms), auth_time (s), user_agent, ip, garbage at (ms)
const START = `
redis.call('HSET', KEYS[1], 'created_at', ARGV[3], 'last_refreshed_at', ARGV[3], 'auth_time', ARGV[4],
  'expires_at', ARGV[2], 'user_agent', ARGV[5], 'ip', ARGV[6])
redis.call('PEXPIREAT', KEYS[1], ARGV[7])
redis.call('SADD', KEYS[2], ARGV[1])
if redis.call('PEXPIRETIME', KEYS[2]) < tonumber(ARGV[7]) then redis.call('PEXPIREAT', KEYS[2], ARGV[7]) end
return 1`

// KEYS: token, session. ARGV: now (ms), token exp (ms). Returns 0 when the token may pass.
const CHECK = `${LIVE}${LUA_EXPIRED}
if redis.call('EXISTS', KEYS[1]) == 1 or expired(ARGV[2]) then return 1 end
if not live(KEYS[2], tonumber(ARGV[1])) then return 2 end
return 0`

// KEYS: token, grace, session, session index. ARGV: token exp (ms), sealed child, grace (ms), now (ms), sid, garbage delay (ms)
// The whole decision is one script, so two refreshes of one token can never both rotate it.
const ROTATE = `${LIVE}${LUA_EXPIRED}
if expired(ARGV[1]) then return {'revoked'} end
local now = tonumber(ARGV[4])
local grace = tonumber(ARGV[3])
local state = redis.call('GET', KEYS[1])
local alive = live(KEYS[3], now)
if state and string.sub(state, 1, 1) == 'x' and alive then
  local graceEnds = tonumber(string.sub(state, 3)) or 0
  local child = redis.call('GET', KEYS[2])
  if child and now < graceEnds then return {'repeated', child} end
  redis.call('DEL', KEYS[3])
  redis.call('SREM', KEYS[4], ARGV[5])
  return {'reused'}
end
if state or not alive then return {'revoked'} end
redis.call('SET', KEYS[1], 'x:' .. (now + grace), 'PXAT', ARGV[1])
if grace > 0 then redis.call('SET', KEYS[2], ARGV[2], 'PXAT', now + grace + tonumber(ARGV[6])) end
redis.call('HSET', KEYS[3], 'last_refreshed_at', ARGV[4])
return {'rotated'}`

// KEYS: token, session, session index. ARGV: token exp (ms), sid
const END = `
redis.call('SET', KEYS[1], 'r', 'PXAT', ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[2])
return 1`

// KEYS: session index. ARGV: key prefix of the user's sessions, mode (all | except | only), sid, now (ms).
// Session keys are built here from the index; they share the index's hash tag, hence its slot.
const END_MANY = `${LIVE}
local ended = 0
local now = tonumber(ARGV[4])
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local chosen = ARGV[2] == 'all' or (ARGV[2] == 'except' and sid ~= ARGV[3]) or (ARGV[2] == 'only' and sid == ARGV[3])
  if chosen then
    if live(ARGV[1] .. sid, now) then ended = ended + 1 end
    redis.call('DEL', ARGV[1] .. sid)
    redis.call('SREM', KEYS[1], sid)
  end
end
return ended`

// KEYS: session index. ARGV: key prefix of the user's sessions, now (ms). Prunes index entries whose session is gone.
const LIST = `${LIVE}
local sessions = {}
local now = tonumber(ARGV[2])
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. sid
  if live(key, now) then
    local f = redis.call('HMGET', key, 'created_at', 'last_refreshed_at', 'auth_time', 'expires_at', 'user_agent', 'ip')
    table.insert(sessions, {sid, f[1], f[2], f[3] or '0', f[4] or '0', f[5], f[6]})
  elseif redis.call('EXISTS', key) == 0 then
    redis.call('SREM', KEYS[1], sid)
  end
end
return sessions`

export const SESSION_SCRIPTS: Record<string, ScriptDefinition> = {
  jwtSessionStart: { numberOfKeys: 2, lua: START },
  jwtSessionCheck: { numberOfKeys: 2, lua: CHECK },
  jwtSessionRotate: { numberOfKeys: 4, lua: ROTATE },
  jwtSessionEnd: { numberOfKeys: 3, lua: END },
  jwtSessionEndMany: { numberOfKeys: 1, lua: END_MANY },
  jwtSessionList: { numberOfKeys: 1, lua: LIST }
}

/** The Redis session store. `keyPrefix` is the client's, for the keys the scripts build themselves. */
export function createRedisSessionStore(scripts: RedisScripts, keyPrefix: string): SessionStore {
  const sessionPrefix = (sub: string): string => `${keyPrefix}${sessionKey(sub, '')}`

  return {
    async start(session) {
      const { sub, sid } = session
      await scripts.run(
        'jwtSessionStart',
        sessionKey(sub, sid), sessionIndexKey(sub),
        sid, session.expires_at, session.created_at, session.auth_time, session.user_agent, session.ip,
        session.expires_at + GARBAGE_DELAY_MS
      )
    },

    async check({ sub, sid, jti, exp }, now) {
      const verdict = await scripts.run<number>('jwtSessionCheck', tokenKey(sub, jti), sessionKey(sub, sid), now, exp * 1000)
      return verdict === 0 ? 'active' : 'revoked'
    },

    async rotate({ sub, sid, jti, exp }, { sealedChild, graceMs, now }) {
      const [outcome, child] = await scripts.revoke<[string, string?]>(
        'jwtSessionRotate',
        tokenKey(sub, jti), graceKey(sub, jti), sessionKey(sub, sid), sessionIndexKey(sub),
        exp * 1000, sealedChild, graceMs, now, sid, GARBAGE_DELAY_MS
      )
      if (outcome === 'repeated') return { outcome, sealedChild: child! }
      return { outcome: outcome as 'rotated' | 'reused' | 'revoked' }
    },

    async end({ sub, sid, jti, exp }) {
      await scripts.revoke('jwtSessionEnd', tokenKey(sub, jti), sessionKey(sub, sid), sessionIndexKey(sub), exp * 1000, sid)
    },

    async endMany(sub, which, now) {
      const [mode, sid] = 'all' in which ? ['all', ''] : 'except' in which ? ['except', which.except] : ['only', which.only]
      return scripts.revoke<number>('jwtSessionEndMany', sessionIndexKey(sub), sessionPrefix(sub), mode, sid, now)
    },

    async list(sub, now) {
      const rows = await scripts.run<string[][]>('jwtSessionList', sessionIndexKey(sub), sessionPrefix(sub), now)
      return rows
        .map(([sid, createdAt, lastRefreshedAt, authTime, expiresAt, userAgent, ip]): SessionRecord => ({
          sid: sid!,
          sub,
          created_at: Number(createdAt),
          last_refreshed_at: Number(lastRefreshedAt),
          auth_time: Number(authTime),
          expires_at: Number(expiresAt),
          user_agent: userAgent ?? '',
          ip: ip ?? ''
        }))
        .sort((a, b) => a.created_at - b.created_at)
    }
  }
}
