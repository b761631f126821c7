import { GARBAGE_DELAY_MS, LUA_EXPIRED, type RedisScripts, type ScriptDefinition } from '../redis-scripts.js'
import type { ClientTokenStore } from './index.js'

/*
 *   {c:<client_id>}:epoch   the second from which the client's revocations are tracked; kept until its
 *                           newest token's expiry, plus GARBAGE_DELAY_MS (garbage collection: every token it
 *                           covers is expired by then)
 *   {c:<client_id>}:j:<jti> "r": a revoked client token; PXAT the token's exp (and `expired()` past it)
 *   {c:<client_id>}:v       the client's version (record-versions.ts): INCR on every change of the client; no TTL
 *                           (a few bytes per client that ever changed)
 */
const epochKey = (clientId: string): string => `{c:${clientId}}:epoch`
const tokenKey = (clientId: string, jti: string): string => `{c:${clientId}}:j:${jti}`
/** The client's record version (record-versions.ts), in the client's hash slot. */
export const clientVersionKey = (clientId: string): string => `{c:${clientId}}:v`

// KEYS: epoch. ARGV: now (s), until (ms)
const KEEP_EPOCH = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
return 1`

// KEYS: token, epoch. ARGV: iat (s), exp (ms). Returns 0 when the token may pass.
const CHECK = `${LUA_EXPIRED}
if redis.call('EXISTS', KEYS[1]) == 1 or expired(ARGV[2]) then return 1 end
local epoch = redis.call('GET', KEYS[2])
if not epoch or tonumber(epoch) > tonumber(ARGV[1]) then return 2 end
return 0`

export const CLIENT_TOKEN_SCRIPTS: Record<string, ScriptDefinition> = {
  jwtClientKeepEpoch: { numberOfKeys: 1, lua: KEEP_EPOCH },
  jwtClientCheck: { numberOfKeys: 2, lua: CHECK },
  jwtClientRevoke: { numberOfKeys: 1, lua: "return redis.call('SET', KEYS[1], 'r', 'PXAT', ARGV[1])" },
  jwtClientForget: { numberOfKeys: 1, lua: "return redis.call('DEL', KEYS[1])" }
}

export function createRedisClientTokenStore(scripts: RedisScripts): ClientTokenStore {
  return {
    async keepEpoch(clientId, now, until) {
      await scripts.run('jwtClientKeepEpoch', epochKey(clientId), Math.floor(now / 1000), until + GARBAGE_DELAY_MS)
    },
    async check({ client_id, jti, iat, exp }) {
      const verdict = await scripts.run<number>('jwtClientCheck', tokenKey(client_id, jti), epochKey(client_id), iat, exp * 1000)
      return verdict === 0 ? 'active' : 'revoked'
    },
    async revoke({ client_id, jti, exp }) {
      await scripts.revoke('jwtClientRevoke', tokenKey(client_id, jti), exp * 1000)
    },
    async forget(clientId) {
      await scripts.revoke('jwtClientForget', epochKey(clientId))
    }
  }
}
