import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { defineLuaScripts, type FeedEvent, type FeedLayout, FeedReader, luaScript, type Monotonic, reply, RevocationReplica, runLua, START } from '@jwt-auth-service/verifier/feed'
import type { RedisClient } from '../stores/redis-connection.js'

/** The replica of the revocation feed and the reader that keeps it (REVOCATION_CHECK=replicated, and the feed endpoint). */
export interface RevocationFeed {
  replica: RevocationReplica
  reader: FeedReader
  layout: FeedLayout
  /** Events this instance wrote itself: applied at once, before its answer, rather than when the feed brings them back. */
  applyOwn(events: FeedEvent[]): void
  /** A shard's entries after `position` (START: from its first), at most `count`, oldest first. */
  entriesAfter(shard: number, position: string, count: number): Promise<[string, string[]][]>
  /** The id up to which a shard's entries have been trimmed: a reader at an earlier position missed some. */
  deletedUpTo(shard: number): Promise<string>
  /** The key that subscription cursors are signed with, the same on every instance (kept in Redis). */
  cursorSecret(): Promise<Buffer>
  /** The open subscriptions (GET /oauth/revocations). */
  subscribers: Set<ServerResponse>
  close(): Promise<void>
}

export interface RevocationFeedOptions {
  redis: RedisClient
  layout: FeedLayout
  /** The service's clock (ms). */
  now: () => number
  /** What the feed's lag is measured by (the clock's monotonic time). */
  monotonic: Monotonic
  /** REVOCATION_MAX_LAG_MS: the feed is probed four times as often, so that an idle replica stays well inside the bound. */
  maxLagMs: number
  /** REDIS_COMMAND_TIMEOUT_MS, which a blocking read must stay inside. */
  commandTimeoutMs: number
  log: { warn(details: object, message: string): void }
}

const DELETED_UP_TO = luaScript({
  command: 'jwtFeedDeletedUpTo',
  source: new URL('./lua/deleted-up-to.lua', import.meta.url),
  keys: ['stream'],
  args: [],
  decode: reply.string
})
const CURSOR_SECRET = luaScript({
  command: 'jwtFeedCursorSecret',
  source: new URL('./lua/cursor-secret.lua', import.meta.url),
  keys: ['cursor'],
  args: ['candidate'],
  decode: reply.string
})

export function openRevocationFeed({ redis, layout, now, monotonic, maxLagMs, commandTimeoutMs, log }: RevocationFeedOptions): RevocationFeed {
  const replica = new RevocationReplica(layout.shards)
  const reader = new FeedReader({ redis, layout, replica, now, monotonic, probeEveryMs: Math.max(5, Math.floor(maxLagMs / 4)), blockMs: Math.floor(commandTimeoutMs / 2), beginGeneration: true, log })
  defineLuaScripts(redis, [DELETED_UP_TO, CURSOR_SECRET])
  // Read once per generation: a store that lost its data lost the secret too, and every cursor with it.
  let secret: Promise<Buffer> | undefined
  reader.on('generation', () => (secret = undefined))
  reader.start()
  return {
    replica,
    reader,
    layout,
    applyOwn(events) {
      for (const event of events) replica.apply(event, now())
    },
    entriesAfter: (shard, position, count) =>
      redis.xrange(layout.stream(shard), position === START ? '-' : `(${position}`, '+', 'COUNT', count),
    deletedUpTo: (shard) => runLua(redis, DELETED_UP_TO, { stream: layout.stream(shard) }, {}),
    cursorSecret() {
      secret ??= runLua(redis, CURSOR_SECRET, { cursor: layout.cursorKey }, { candidate: randomBytes(32).toString('base64url') }).then((value) => Buffer.from(value))
      // A failed read is not kept: the next subscriber asks again.
      secret.catch(() => (secret = undefined))
      return secret
    },
    subscribers: new Set(),
    close: () => reader.stop()
  }
}
