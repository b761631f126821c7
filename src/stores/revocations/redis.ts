import { StoreUnavailableError } from '../../errors.js'
import type { RedisClient } from '../redis-connection.js'
import type { RevocationStore, RotateResult, TokenRef } from './index.js'

/*
 * Key layout. Every key of one user carries the hash tag {u:<sub>}, so that the keys a request
 * touches live in one slot: the per-request check stays one round trip, and the scripts below stay
 * atomic, on Redis Cluster too.
 *
 *   {u:<sub>}:s:<sid>     hash: the live session (created_at, last_refreshed_at, auth_time, user_agent, ip);
 *                         expires when the session ends for good
 *   {u:<sub>}:sessions    set of the user's session ids (an index, pruned lazily)
 *   {u:<sub>}:j:<jti>     "r" (revoked) or "x" (rotated); expires when the token does (PXAT exp)
 *   {u:<sub>}:g:<jti>     the sealed first child of a rotated token; expires when the grace ends
 *
 *   {c:<client_id>}:epoch   the second from which the client's revocations are tracked (see keepClientEpoch)
 *   {c:<client_id>}:j:<jti> "r": a revoked client token; expires when the token does
 */
const tag = (sub: string): string => `{u:${sub}}`
const sessionKey = (sub: string, sid: string): string => `${tag(sub)}:s:${sid}`
const sessionIndexKey = (sub: string): string => `${tag(sub)}:sessions`
const tokenKey = (sub: string, jti: string): string => `${tag(sub)}:j:${jti}`
const graceKey = (sub: string, jti: string): string => `${tag(sub)}:g:${jti}`
const clientEpochKey = (clientId: string): string => `{c:${clientId}}:epoch`
const clientTokenKey = (clientId: string, jti: string): string => `{c:${clientId}}:j:${jti}`

// KEYS: epoch. ARGV: now (s), until (ms)
const KEEP_CLIENT_EPOCH = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
return 1`

// KEYS: token, epoch. ARGV: iat (s). Returns 0 when the token may pass.
const CHECK_CLIENT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
local epoch = redis.call('GET', KEYS[2])
if not epoch or tonumber(epoch) > tonumber(ARGV[1]) then return 2 end
return 0`

// KEYS: token. ARGV: exp (ms)
const REVOKE_CLIENT = "return redis.call('SET', KEYS[1], 'r', 'PXAT', ARGV[1])"

// KEYS: epoch
const FORGET_CLIENT = "return redis.call('DEL', KEYS[1])"

// KEYS: session, session index. ARGV: sid, expiresAt (ms), created_at (ms), auth_time (s), user_agent, ip
const START_SESSION = `
redis.call('HSET', KEYS[1], 'created_at', ARGV[3], 'last_refreshed_at', ARGV[3], 'auth_time', ARGV[4],
  'user_agent', ARGV[5], 'ip', ARGV[6])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
if redis.call('PEXPIRETIME', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIREAT', KEYS[2], ARGV[2]) end
return 1`

// KEYS: token, session. Returns 0 when the token may pass.
const CHECK = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
if redis.call('EXISTS', KEYS[2]) == 0 then return 2 end
return 0`

// KEYS: token, grace, session, session index. ARGV: token exp (ms), sealed child, grace (ms), now (ms), sid
// The whole decision is one script, so two refreshes of one token can never both rotate it.
const ROTATE = `
local state = redis.call('GET', KEYS[1])
local alive = redis.call('EXISTS', KEYS[3]) == 1
if state == 'x' and alive then
  local child = redis.call('GET', KEYS[2])
  if child then return {'repeated', child} end
  redis.call('DEL', KEYS[3])
  redis.call('SREM', KEYS[4], ARGV[5])
  return {'reused'}
end
if state or not alive then return {'revoked'} end
redis.call('SET', KEYS[1], 'x', 'PXAT', ARGV[1])
if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
redis.call('HSET', KEYS[3], 'last_refreshed_at', ARGV[4])
return {'rotated'}`

// KEYS: token, session, session index. ARGV: token exp (ms), sid
const END_SESSION = `
redis.call('SET', KEYS[1], 'r', 'PXAT', ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[2])
return 1`

// KEYS: session index. ARGV: key prefix of the user's sessions, mode (all | except | only), sid.
// Session keys are built here from the index; they share the index's hash tag, hence its slot.
const END_SESSIONS = `
local ended = 0
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local chosen = ARGV[2] == 'all' or (ARGV[2] == 'except' and sid ~= ARGV[3]) or (ARGV[2] == 'only' and sid == ARGV[3])
  if chosen then
    ended = ended + redis.call('DEL', ARGV[1] .. sid)
    redis.call('SREM', KEYS[1], sid)
  end
end
return ended`

// KEYS: session index. ARGV: key prefix of the user's sessions. Prunes index entries whose session is gone.
const LIST_SESSIONS = `
local sessions = {}
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local fields = redis.call('HMGET', ARGV[1] .. sid, 'created_at', 'last_refreshed_at', 'user_agent', 'ip')
  if fields[1] then
    table.insert(sessions, {sid, fields[1], fields[2], fields[3], fields[4]})
  else
    redis.call('SREM', KEYS[1], sid)
  end
end
return sessions`

const SCRIPTS = {
  jwtStartSession: { numberOfKeys: 2, lua: START_SESSION },
  jwtCheck: { numberOfKeys: 2, lua: CHECK },
  jwtRotate: { numberOfKeys: 4, lua: ROTATE },
  jwtEndSession: { numberOfKeys: 3, lua: END_SESSION },
  jwtEndSessions: { numberOfKeys: 1, lua: END_SESSIONS },
  jwtListSessions: { numberOfKeys: 1, lua: LIST_SESSIONS },
  jwtKeepClientEpoch: { numberOfKeys: 1, lua: KEEP_CLIENT_EPOCH },
  jwtCheckClient: { numberOfKeys: 2, lua: CHECK_CLIENT },
  jwtRevokeClient: { numberOfKeys: 1, lua: REVOKE_CLIENT },
  jwtForgetClient: { numberOfKeys: 1, lua: FORGET_CLIENT }
}
type ScriptName = keyof typeof SCRIPTS
/** The scripts that revoke, and so may have to wait for replicas. */
type RevokingScript = 'jwtRotate' | 'jwtEndSession' | 'jwtEndSessions' | 'jwtRevokeClient' | 'jwtForgetClient'

export interface RedisRevocationOptions {
  /** The clients' key prefix, for the keys the scripts build themselves. */
  keyPrefix: string
  /** REDIS_WAIT_REPLICAS: 0, or how many replicas must hold a revocation before it is acknowledged. */
  waitReplicas: number
  waitTimeoutMs: number
}

/**
 * The Redis revocation store. The clients are owned here: close() quits them.
 *
 * With waitReplicas > 0, revoking writes go through a second connection of their own, each followed
 * by WAIT in the same pipeline (so on the same node, on a Cluster too): WAIT blocks the connection it
 * runs on, and must not hold up the per-request checks. A write that too few replicas acknowledge
 * is answered 503: it may have happened (a retry within the grace gets the same child), but it is
 * not promised to survive a failover.
 */
export function createRedisRevocationStore(redis: RedisClient, options: RedisRevocationOptions): RevocationStore {
  const durable = options.waitReplicas > 0 ? redis.duplicate() : redis
  for (const client of new Set([redis, durable])) {
    for (const [name, definition] of Object.entries(SCRIPTS)) client.defineCommand(name, definition)
  }
  if (durable !== redis) {
    // Its errors are the main client's to report; an 'error' event without a listener would crash the process.
    durable.on('error', (error: Error) => redis.emit('error', error))
    durable.connect().catch(() => {})
  }
  const clients = [...new Set([redis, durable])]
  const sessionPrefix = (sub: string): string => `${options.keyPrefix}${sessionKey(sub, '')}`

  async function run<T>(script: ScriptName, ...args: (string | number)[]): Promise<T> {
    const command = (redis as unknown as Record<ScriptName, (...a: (string | number)[]) => Promise<T>>)[script]
    try {
      return await command.apply(redis, args)
    } catch (error) {
      throw new StoreUnavailableError('revocation', error)
    }
  }

  async function revoke<T>(script: RevokingScript, ...args: (string | number)[]): Promise<T> {
    if (options.waitReplicas === 0) return run<T>(script, ...args)
    let results: [Error | null, unknown][] | null
    try {
      results = await durable.pipeline([[script, ...args], ['wait', options.waitReplicas, options.waitTimeoutMs]]).exec()
    } catch (error) {
      throw new StoreUnavailableError('revocation', error)
    }
    const [[scriptError, value] = [null, undefined], [waitError, acknowledged] = [null, 0]] = results ?? []
    if (scriptError !== null) throw new StoreUnavailableError('revocation', scriptError)
    if (waitError !== null || Number(acknowledged) < options.waitReplicas) {
      const shortfall = new Error(`${String(acknowledged)} of ${options.waitReplicas} replicas acknowledged`)
      throw new StoreUnavailableError('revocation', waitError ?? shortfall)
    }
    return value as T
  }

  return {
    async startSession(session) {
      const { sub, sid } = session
      await run(
        'jwtStartSession',
        sessionKey(sub, sid), sessionIndexKey(sub),
        sid, session.expiresAt, session.createdAt, session.authTime, session.userAgent, session.ip
      )
    },

    async check({ sub, sid, jti }) {
      const verdict = await run<number>('jwtCheck', tokenKey(sub, jti), sessionKey(sub, sid))
      return verdict === 0 ? 'active' : 'revoked'
    },

    async rotate(parent: TokenRef, rotation): Promise<RotateResult> {
      const { sub, sid, jti } = parent
      const [outcome, sealedChild] = await revoke<[string, string?]>(
        'jwtRotate',
        tokenKey(sub, jti), graceKey(sub, jti), sessionKey(sub, sid), sessionIndexKey(sub),
        parent.exp * 1000, rotation.sealedChild, rotation.graceMs, rotation.now, sid
      )
      if (outcome === 'repeated') return { outcome, sealedChild: sealedChild! }
      return { outcome: outcome as 'rotated' | 'reused' | 'revoked' }
    },

    async endSession({ sub, sid, jti, exp }) {
      await revoke('jwtEndSession', tokenKey(sub, jti), sessionKey(sub, sid), sessionIndexKey(sub), exp * 1000, sid)
    },

    async endSessions(sub, which) {
      const [mode, sid] = 'all' in which ? ['all', ''] : 'except' in which ? ['except', which.except] : ['only', which.only]
      return revoke<number>('jwtEndSessions', sessionIndexKey(sub), sessionPrefix(sub), mode, sid)
    },

    async listSessions(sub) {
      const rows = await run<[string, string, string, string, string][]>('jwtListSessions', sessionIndexKey(sub), sessionPrefix(sub))
      return rows
        .map(([sid, createdAt, lastRefreshedAt, userAgent, ip]) => ({
          sid,
          createdAt: Number(createdAt),
          lastRefreshedAt: Number(lastRefreshedAt),
          userAgent,
          ip
        }))
        .sort((a, b) => a.createdAt - b.createdAt)
    },

    async keepClientEpoch(clientId, until) {
      await run('jwtKeepClientEpoch', clientEpochKey(clientId), Math.floor(Date.now() / 1000), until)
    },

    async checkClientToken({ client_id, jti, iat }) {
      const verdict = await run<number>('jwtCheckClient', clientTokenKey(client_id, jti), clientEpochKey(client_id), iat)
      return verdict === 0 ? 'active' : 'revoked'
    },

    async revokeClientToken({ client_id, jti, exp }) {
      await revoke('jwtRevokeClient', clientTokenKey(client_id, jti), exp * 1000)
    },

    async forgetClient(clientId) {
      await revoke('jwtForgetClient', clientEpochKey(clientId))
    },

    async ping() {
      try {
        await Promise.all(clients.map((client) => client.ping()))
      } catch (error) {
        throw new StoreUnavailableError('revocation', error)
      }
    },

    async close() {
      await Promise.all(clients.map((client) => client.quit().catch(() => client.disconnect())))
    }
  }
}
