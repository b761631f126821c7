/**
 * A Lua script defined on a client that is already busy, against real Redis. ioredis' auto-pipelining gives each
 * pending pipeline the client's commands as they were when it was made; a script defined later and called before
 * that pipeline was sent was not one of them. The call failed, and the pipeline's reply then crashed the process
 * ("results[i] is not iterable", redis/ioredis#1931). The service defines scripts after start-up (the feed reader,
 * the rate limits), under load.
 */
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { test } from 'tap'
import { defineLuaScripts, failFastOptions, luaScript, reply, runLua } from '@jwt-auth-service/verifier/feed'
import { REDIS_URL } from '../helper.js'

test('a script defined while a pipeline waits is called in that pipeline, without a crash', async (t) => {
  const redis = new Redis(REDIS_URL, failFastOptions(`race-${randomUUID()}:`, 2_000))
  t.teardown(() => redis.disconnect())
  await redis.connect()
  const crashes: Error[] = []
  const onCrash = (error: Error): void => void crashes.push(error)
  process.on('uncaughtException', onCrash)
  t.teardown(() => process.off('uncaughtException', onCrash))

  const script = luaScript({ command: `jwtRace${randomUUID().replaceAll('-', '')}`, source: new URL('../../src/stores/lua/version.lua', import.meta.url), keys: ['version'], args: [], decode: reply.optionalString })
  // One pipeline on its way to Redis, and a second one waiting behind it, made before the script is defined.
  const running = redis.ping()
  await new Promise((resolve) => setImmediate(resolve))
  const waiting = redis.ping()
  defineLuaScripts(redis, [script])
  const called = runLua(redis, script, { version: 'unset' }, {})
  t.equal(await called, null, 'the script runs (a version never set reads nil)')
  t.same(await Promise.all([running, waiting]), ['PONG', 'PONG'])
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(crashes.map((error) => error.message), [], 'no uncaught exception')
})
