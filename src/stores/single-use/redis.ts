import { createHash } from 'node:crypto'
import { luaScript, reply } from '@jwt-auth-service/verifier/feed'
import type { RedisScripts } from '../redis-scripts.js'
import type { SingleUseStore } from './index.js'

const USE = luaScript({
  command: 'jwtUseOnce',
  source: new URL('./lua/use.lua', import.meta.url),
  keys: ['used'],
  args: ['ttl'],
  decode: reply.integer
})

export const SINGLE_USE_SCRIPTS = [USE]

/** The value's digest names the key: a client picks the value, and its length is not ours to store. */
const keyOf = (scope: string, value: string): string => `once:${scope}:${createHash('sha256').update(value, 'utf8').digest('base64url')}`

/** One SET NX per use; Redis forgets the value when it has expired, by the service's clock's reckoning of the time left. */
export function createRedisSingleUseStore(scripts: RedisScripts): SingleUseStore {
  return {
    use: async (scope, value, now, until) => (await scripts.run(USE, { used: keyOf(scope, value) }, { ttl: Math.max(1, until - now) })) === 1
  }
}
