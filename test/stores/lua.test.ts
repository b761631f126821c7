/**
 * The Lua helper (the verifier package's lua.ts): names bound in the script's order, names Lua cannot take refused,
 * replies of the wrong shape refused; and every script of the service reads its keys and arguments by
 * name. The scripts themselves run against real Redis in the store and route tests.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'tap'
import { luaCall, luaScript, reply } from '@jwt-auth-service/verifier/feed'
import { SESSION_SCRIPTS } from '../../src/stores/sessions/redis.js'
import { CLIENT_TOKEN_SCRIPTS } from '../../src/stores/client-tokens/redis.js'
import { VERSION_SCRIPTS } from '../../src/stores/record-versions.js'

const source = new URL('../../src/stores/lua/version.lua', import.meta.url)

test('keys and arguments are bound by name, in the order of the definition', async (t) => {
  const script = luaScript({ command: 'jwtExample', source, keys: ['first', 'second'], args: ['alpha', 'beta', 'gamma'], decode: reply.integer })
  t.match(script.lua, /^local KEY = \{first = KEYS\[1\], second = KEYS\[2\]\}\nlocal ARG = \{alpha = ARGV\[1\], beta = ARGV\[2\], gamma = ARGV\[3\]\}\n/)
  t.ok(script.lua.endsWith(readFileSync(source, 'utf8')), "the script's own text comes last")
  t.same(luaCall(script, { second: 'k2', first: 'k1' }, { gamma: 3, alpha: 'a', beta: '' }), ['k1', 'k2', 'a', '', 3])
})

test('libraries come between the prelude and the script, in the order given', async (t) => {
  const script = luaScript({ command: 'jwtExample', source, libraries: ['-- one', '-- two'], keys: ['version'], args: [], decode: reply.integer })
  const one = script.lua.indexOf('-- one')
  const two = script.lua.indexOf('-- two')
  t.ok(script.lua.indexOf('local ARG') < one && one < two && two < script.lua.indexOf("redis.call('GET'"), script.lua)
})

test('a name that cannot be a Lua field is refused where the script is defined', async (t) => {
  for (const name of ['until', 'end', 'not', 'feed-stream', '1st', '']) {
    t.throws(() => luaScript({ command: 'jwtExample', source, keys: [name], args: [], decode: reply.integer }), { message: /cannot name a Lua field/ }, `key ${JSON.stringify(name)}`)
    t.throws(() => luaScript({ command: 'jwtExample', source, keys: [], args: [name], decode: reply.integer }), { message: /cannot name a Lua field/ }, `argument ${JSON.stringify(name)}`)
  }
})

test('decoders accept their shape and refuse any other', async (t) => {
  const cases: [keyof typeof reply, unknown, unknown][] = [
    ['integer', 3, 3],
    ['integer', '3', TypeError],
    ['integer', 1.5, TypeError],
    ['string', 'x', 'x'],
    ['string', null, TypeError],
    ['optionalString', null, null],
    ['optionalString', 'x', 'x'],
    ['optionalString', 1, TypeError],
    ['integers', [1, -2], [1, -2]],
    ['integers', [1, 'x'], TypeError],
    ['integers', 1, TypeError],
    ['strings', ['a', 2], ['a', '2']],
    ['strings', ['a', null], TypeError],
    ['strings', 'a', TypeError],
    ['optionalStrings', ['a', null, 2], ['a', null, '2']],
    ['optionalStrings', [{}], TypeError]
  ]
  for (const [decoder, value, expected] of cases) {
    const decode = reply[decoder] as (value: unknown) => unknown
    if (expected === TypeError) t.throws(() => decode(value), TypeError, `${decoder} refuses ${JSON.stringify(value)}`)
    else t.same(decode(value), expected, `${decoder} reads ${JSON.stringify(value)}`)
  }
})

test('the stores answer a reply of the wrong shape as an error, not as a verdict', async (t) => {
  const check = SESSION_SCRIPTS.find((script) => script.command === 'jwtSessionCheck')!
  t.throws(() => check.decode(null), TypeError)
  const start = SESSION_SCRIPTS.find((script) => script.command === 'jwtSessionStart')!
  t.throws(() => start.decode(['maybe']), TypeError)
  t.same(start.decode(['started', '17', 'old']), { outcome: 'started', generation: 17, evicted: ['old'] })
  const rotate = SESSION_SCRIPTS.find((script) => script.command === 'jwtSessionRotate')!
  t.throws(() => rotate.decode(['repeated']), TypeError, 'a repeat without its child')
})

test("every .lua file of the service and of the verifier package reads its keys and arguments by name", async (t) => {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  const files = ['src', 'packages/verifier/src'].flatMap((folder) =>
    readdirSync(join(root, folder), { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.lua')).map((file) => join(folder, file))
  )
  t.ok(files.length >= 25, `${files.length} scripts and libraries`)
  t.ok(files.includes('packages/verifier/src/feed/lua/feed.lua'), "the feed's own among them")
  for (const file of files) {
    const text = readFileSync(join(root, file), 'utf8')
    t.notMatch(text, /\b(KEYS|ARGV)\s*\[/, `${file} uses no positional KEYS or ARGV`)
  }
  const commands = [...SESSION_SCRIPTS, ...CLIENT_TOKEN_SCRIPTS, ...VERSION_SCRIPTS].map((script) => script.command)
  t.equal(new Set(commands).size, commands.length, 'no two scripts share a command name')
})
