import { readFileSync } from 'node:fs'
import type { RedisClient } from './redis.js'

/*
 * The Lua scripts of the revocation feed and of the service's stores, each in a .lua file beside the
 * module that runs it (the build copies them into dist/). A script's keys and arguments have names: the
 * script reads them as KEY.<name> and ARG.<name>, from a prelude that binds them to KEYS[i] and ARGV[i]
 * in the order its definition gives, and callers pass them by name; so the order is written once, here,
 * for both sides. Its reply goes
 * through a decoder, which types it and refuses a reply of another shape (the caller's error path: a
 * store that answers nonsense fails closed).
 */

export type LuaArgument = string | number

export interface LuaScript<K extends string, A extends string, R> {
  /** The ioredis command it is defined as: loaded once, then run by its SHA (EVALSHA). */
  readonly command: string
  readonly keys: readonly K[]
  readonly args: readonly A[]
  /** The prelude, the libraries and the script's own text. */
  readonly lua: string
  decode(reply: unknown): R
}

export type AnyLuaScript = LuaScript<string, string, unknown>

/** The text of a .lua file; `url` is relative to the calling module (`new URL('./lua/x.lua', import.meta.url)`). */
export const luaSource = (url: URL): string => readFileSync(url, 'utf8')

export interface LuaScriptDefinition<K extends string, A extends string, R> {
  command: string
  /** The script's own file. */
  source: URL
  /** Library texts (luaSource) whose functions it calls, in the order they must be defined. */
  libraries?: readonly string[]
  keys: readonly K[]
  args: readonly A[]
  decode: (reply: unknown) => R
}

const LUA_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const LUA_RESERVED = new Set(['and', 'break', 'do', 'else', 'elseif', 'end', 'false', 'for', 'function', 'goto', 'if', 'in', 'local', 'nil', 'not', 'or', 'repeat', 'return', 'then', 'true', 'until', 'while'])

export function luaScript<const K extends string, const A extends string, R>(definition: LuaScriptDefinition<K, A, R>): LuaScript<K, A, R> {
  const { command, source, libraries = [], keys, args, decode } = definition
  for (const name of [...keys, ...args]) {
    if (!LUA_NAME.test(name) || LUA_RESERVED.has(name)) throw new Error(`${command}: ${name} cannot name a Lua field (KEY.${name}, ARG.${name})`)
  }
  const table = (names: readonly string[], array: string): string =>
    `{${names.map((name, i) => `${name} = ${array}[${i + 1}]`).join(', ')}}`
  const prelude = `local KEY = ${table(keys, 'KEYS')}\nlocal ARG = ${table(args, 'ARGV')}\n`
  return { command, keys, args, lua: [prelude, ...libraries, luaSource(source)].join('\n'), decode }
}

/** A call's KEYS and ARGV, in the script's order. */
export function luaCall<K extends string, A extends string>(script: LuaScript<K, A, unknown>, keys: Record<K, string>, args: Record<A, LuaArgument>): LuaArgument[] {
  return [...script.keys.map((name) => keys[name]), ...script.args.map((name) => args[name])]
}

/** ioredis' auto-pipelines waiting to be sent, by slot (its `_autoPipelines`); absent from clients that never made one. */
type AutoPipelines = Map<string, Record<string, unknown>>

/**
 * Defines the scripts as commands of the client (ioredis loads each by its SHA once, and on NOSCRIPT).
 *
 * Each auto-pipeline ioredis makes takes the client's commands as they are then. A pipeline still waiting to be
 * sent (behind one on its way, on a busy client) lacks a command defined after it was made, and a call to that
 * command in it fails; the pipeline's reply then crashes the process (redis/ioredis#1931). So the waiting
 * pipelines get the new commands too, as the pipeline's constructor gives them.
 */
export function defineLuaScripts(redis: RedisClient, scripts: readonly AnyLuaScript[]): void {
  const client = redis as unknown as Record<string, unknown> & { _autoPipelines?: AutoPipelines }
  for (const script of scripts) {
    // Defined already: a name is always the same script (the feed reader, made again, defines its probe again).
    if (typeof client[script.command] === 'function') continue
    redis.defineCommand(script.command, { numberOfKeys: script.keys.length, lua: script.lua })
    for (const pipeline of client._autoPipelines?.values() ?? []) {
      pipeline[script.command] = client[script.command]
      pipeline[`${script.command}Buffer`] = client[`${script.command}Buffer`]
    }
  }
}

/** Runs a script defined on the client (defineLuaScripts) and decodes its reply. */
export async function runLua<K extends string, A extends string, R>(
  redis: RedisClient,
  script: LuaScript<K, A, R>,
  keys: Record<K, string>,
  args: Record<A, LuaArgument>
): Promise<R> {
  const command = (redis as unknown as Record<string, ((...call: LuaArgument[]) => Promise<unknown>) | undefined>)[script.command]
  if (command === undefined) throw new Error(`${script.command} is not defined on this client`)
  return script.decode(await command.apply(redis, luaCall(script, keys, args)))
}

function unexpected(reply: unknown, expected: string): never {
  throw new TypeError(`Redis answered ${JSON.stringify(reply)}, not ${expected}`)
}

/** Decoders for the shapes of reply the scripts give. */
export const reply = {
  integer(value: unknown): number {
    return Number.isInteger(value) ? (value as number) : unexpected(value, 'an integer')
  },
  string(value: unknown): string {
    return typeof value === 'string' ? value : unexpected(value, 'a string')
  },
  /** A string, or nil (Redis' null bulk reply). */
  optionalString(value: unknown): string | null {
    return value === null || typeof value === 'string' ? value : unexpected(value, 'a string or nil')
  },
  /** A Lua table of integers. */
  integers(value: unknown): number[] {
    return Array.isArray(value) && value.every((item) => Number.isInteger(item)) ? (value as number[]) : unexpected(value, 'a list of integers')
  },
  /** A Lua table of strings and integers, each as a string. */
  strings(value: unknown): string[] {
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' || Number.isInteger(item))) return unexpected(value, 'a list of strings')
    return value.map(String)
  },
  /** A Lua table whose items may be nil (false in Lua), each a string or null. */
  optionalStrings(value: unknown): (string | null)[] {
    if (!Array.isArray(value) || !value.every((item) => item === null || typeof item === 'string' || Number.isInteger(item))) return unexpected(value, 'a list of strings')
    return value.map((item) => (item === null ? null : String(item)))
  }
}
