import { defineLuaScripts, luaCall, luaSource, type AnyLuaScript, type LuaArgument, type LuaScript } from '@jwt-auth-service/verifier/feed'
import type { Config } from '../config.js'
import { StoreUnavailableError } from '../errors.js'
import type { RedisClient } from './redis-connection.js'

/**
 * How long after the last decision that can depend on a key the stores keep it anyway (session
 * records, the grace child, client epochs): decisions go by the service's clock, expiry by Redis' own,
 * and the two may differ by a little.
 */
export const GARBAGE_DELAY_MS = 60_000

/** How long the revocation feed keeps an event (ms): until every token it can concern has expired, and GARBAGE_DELAY_MS more. */
export const feedKeepTime = (config: Pick<Config, 'ACCESS_TOKEN_TTL' | 'CLIENT_TOKEN_TTL'>): number =>
  Math.max(config.ACCESS_TOKEN_TTL, config.CLIENT_TOKEN_TTL) * 1000 + GARBAGE_DELAY_MS

/**
 * Lua library, `expired(exp_ms)`: whether Redis' own clock has reached a time. A deny-list entry lives
 * exactly as long as its token (README, "How revocation works"), by Redis' clock; so a token that Redis'
 * clock says has expired is refused too, even if the service's clock is a little behind: the missing
 * entry then fails closed instead of re-admitting it.
 */
export const LUA_EXPIRED = luaSource(new URL('./lua/expired.lua', import.meta.url))

export interface RedisScriptOptions {
  /** REDIS_WAIT_REPLICAS: 0, or how many replicas must hold a revocation before it is acknowledged. */
  waitReplicas: number
  waitTimeoutMs: number
}

/**
 * A revoking write that Redis ran but too few replicas acknowledged in time: a 503 like any other
 * StoreUnavailableError, carrying what the script answered, for the callers that must act on it anyway
 * (a reuse was detected, whether or not its revocation survives a failover).
 */
export class UnacknowledgedWriteError extends StoreUnavailableError {
  override name = 'UnacknowledgedWriteError'
  constructor(store: string, readonly result: unknown, cause: unknown) {
    super(store, cause)
  }
}

/** Runs a script with its keys and arguments by name, and answers its decoded reply. */
export type ScriptCall = <K extends string, A extends string, R>(script: LuaScript<K, A, R>, keys: Record<K, string>, args: Record<A, LuaArgument>) => Promise<R>

/** Runs the stores' Lua scripts; every failure is a StoreUnavailableError (503), never a 401. */
export interface RedisScripts {
  /** A read, or a write that revokes nothing. */
  run: ScriptCall
  /**
   * A write that revokes: with REDIS_WAIT_REPLICAS it is acknowledged only once enough replicas hold it;
   * when they do not, UnacknowledgedWriteError (the write happened on the master).
   */
  revoke: ScriptCall
  /**
   * A step that follows a revoking write (a rollback, a confirmation that decides nothing durable): on
   * the same connection, so that Redis runs it after that write even when both arrive late, and
   * without WAIT.
   */
  followUp: ScriptCall
  ping(): Promise<void>
  /** Quits the connection this runner opened for WAIT (the main connection is its opener's). */
  close(): Promise<void>
}

/**
 * With waitReplicas > 0, revoking writes go through a second connection of their own, each followed
 * by WAIT in the same pipeline (so on the same node, on a Cluster too): WAIT blocks the connection it
 * runs on, and must not hold up the per-request checks. A write that too few replicas acknowledge
 * is answered 503 although it happened on the master: the stores write revocations so that such a
 * write can be retried (sessions/redis.ts: a rotation stays pending until confirmed and is rolled back
 * on failure; a logout or session end is repeated by its retry).
 */
export function createRedisScripts(redis: RedisClient, scripts: readonly AnyLuaScript[], options: RedisScriptOptions): RedisScripts {
  const durable = options.waitReplicas > 0 ? redis.duplicate() : redis
  for (const client of new Set([redis, durable])) defineLuaScripts(client, scripts)
  if (durable !== redis) {
    // Its errors are the main client's to report; an 'error' event without a listener would crash the process.
    durable.on('error', (error: Error) => redis.emit('error', error))
    durable.connect().catch(() => {})
  }
  const store = 'revocation'

  const decode = <R>(script: LuaScript<string, string, R>, value: unknown): R => {
    try {
      return script.decode(value)
    } catch (error) {
      throw new StoreUnavailableError(store, error)
    }
  }

  const call = (client: RedisClient): ScriptCall => async (script, keys, args) => {
    const command = (client as unknown as Record<string, (...call: LuaArgument[]) => Promise<unknown>>)[script.command]!
    let value: unknown
    try {
      value = await command.apply(client, luaCall(script, keys, args))
    } catch (error) {
      throw new StoreUnavailableError(store, error)
    }
    return decode(script, value)
  }

  const run = call(redis)

  const revoke: ScriptCall = async (script, keys, args) => {
    if (options.waitReplicas === 0) return run(script, keys, args)
    let results: [Error | null, unknown][] | null
    try {
      results = await durable.pipeline([[script.command, ...luaCall(script, keys, args)], ['wait', options.waitReplicas, options.waitTimeoutMs]]).exec()
    } catch (error) {
      throw new StoreUnavailableError(store, error)
    }
    const [[scriptError, value] = [null, undefined], [waitError, acknowledged] = [null, 0]] = results ?? []
    if (scriptError !== null) throw new StoreUnavailableError(store, scriptError)
    const result = decode(script, value)
    if (waitError !== null || Number(acknowledged) < options.waitReplicas) {
      const shortfall = new Error(`${String(acknowledged)} of ${options.waitReplicas} replicas acknowledged`)
      throw new UnacknowledgedWriteError(store, result, waitError ?? shortfall)
    }
    return result
  }

  return {
    run,
    revoke,
    followUp: call(durable),
    async ping() {
      try {
        await Promise.all([...new Set([redis, durable])].map((client) => client.ping()))
      } catch (error) {
        throw new StoreUnavailableError(store, error)
      }
    },
    async close() {
      if (durable !== redis) await durable.quit().catch(() => durable.disconnect())
    }
  }
}
