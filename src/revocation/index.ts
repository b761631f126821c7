import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { RedisClient } from '../stores/redis-connection.js'
import type { FeedEvent, FeedLayout } from '../stores/revocation-feed.js'
import { FeedReader, START } from './feed-reader.js'
import { RevocationReplica } from './replica.js'

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
  /** REVOCATION_MAX_LAG_MS: the feed is probed four times as often, so that an idle replica stays well inside the bound. */
  maxLagMs: number
  /** REDIS_COMMAND_TIMEOUT_MS, which a blocking read must stay inside. */
  commandTimeoutMs: number
  log: { warn(details: object, message: string): void }
}

// Scripts, so that the client's key prefix applies to the key (ioredis leaves the key inside XINFO alone).
// KEYS: a stream. Its max-deleted-entry-id, '0-0' when it does not exist.
const DELETED_UP_TO = `
if redis.call('EXISTS', KEYS[1]) == 0 then return '0-0' end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
for i = 1, #info, 2 do
  if info[i] == 'max-deleted-entry-id' then return info[i + 1] end
end
return '0-0'`
// KEYS: the cursor key. ARGV: a new random secret, kept if there is none.
const CURSOR_SECRET = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])`

export function openRevocationFeed({ redis, layout, now, maxLagMs, commandTimeoutMs, log }: RevocationFeedOptions): RevocationFeed {
  const replica = new RevocationReplica(layout.shards)
  const reader = new FeedReader({ redis, layout, replica, now, probeEveryMs: Math.max(5, Math.floor(maxLagMs / 4)), blockMs: Math.floor(commandTimeoutMs / 2), beginGeneration: true, log })
  redis.defineCommand('jwtFeedDeletedUpTo', { numberOfKeys: 1, lua: DELETED_UP_TO })
  redis.defineCommand('jwtFeedCursorSecret', { numberOfKeys: 1, lua: CURSOR_SECRET })
  const call = <T>(command: string, ...args: (string | number)[]): Promise<T> =>
    (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<T>>)[command]!(...args)
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
    deletedUpTo: (shard) => call<string>('jwtFeedDeletedUpTo', layout.stream(shard)),
    cursorSecret() {
      secret ??= call<string>('jwtFeedCursorSecret', layout.cursorKey, randomBytes(32).toString('base64url')).then((value) => Buffer.from(value))
      // A failed read is not kept: the next subscriber asks again.
      secret.catch(() => (secret = undefined))
      return secret
    },
    subscribers: new Set(),
    close: () => reader.stop()
  }
}
