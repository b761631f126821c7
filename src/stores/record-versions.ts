import { luaScript, reply } from '@jwt-auth-service/verifier/feed'
import type { RedisScripts } from './redis-scripts.js'

/**
 * A version per record (a user, a client), changed after every change that cached copies of the record
 * must not outlive: what lets an instance keep records of PostgreSQL in memory and still refuse a changed
 * one on the next request (auth/record-cache.ts). Redis only: with the embedded stores the tables are
 * in-process, and nothing is cached. The key lives beside the record's other keys (its hash tag):
 * sessions/redis.ts `{u:<sub>}:v`, client-tokens/redis.ts `{c:<client_id>}:v`; no TTL.
 */
export interface RecordVersions {
  /** The record's current version ('0' for one never changed). */
  current(id: string): Promise<string>
  /** A new version: every cached copy of the record is stale from now on. */
  bump(id: string): Promise<void>
}

const CURRENT = luaScript({
  command: 'jwtVersion',
  source: new URL('./lua/version.lua', import.meta.url),
  keys: ['version'],
  args: [],
  decode: reply.optionalString
})
const BUMP = luaScript({
  command: 'jwtVersionBump',
  source: new URL('./lua/version-bump.lua', import.meta.url),
  keys: ['version'],
  args: [],
  decode: reply.integer
})

export const VERSION_SCRIPTS = [CURRENT, BUMP]

/** Read in the round trip a request makes anyway (the token's check, a client's rate limits). */
export function createRedisVersions(scripts: RedisScripts, keyOf: (id: string) => string): RecordVersions {
  return {
    current: async (id) => (await scripts.run(CURRENT, { version: keyOf(id) }, {})) ?? '0',
    // Durable like a revocation (WAIT): a failover must not bring back the version a rotated secret had.
    bump: async (id) => void (await scripts.revoke(BUMP, { version: keyOf(id) }, {}))
  }
}
