import type { RedisClient } from '../stores/redis-connection.js'
import type { FeedEvent, FeedLayout } from '../stores/revocation-feed.js'
import { FeedReader } from './feed-reader.js'
import { RevocationReplica } from './replica.js'

/** The replica of the revocation feed and the reader that keeps it (REVOCATION_CHECK=replicated, and the feed endpoint). */
export interface RevocationFeed {
  replica: RevocationReplica
  reader: FeedReader
  layout: FeedLayout
  /** Events this instance wrote itself: applied at once, before its answer, rather than when the feed brings them back. */
  applyOwn(events: FeedEvent[]): void
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

export function openRevocationFeed({ redis, layout, now, maxLagMs, commandTimeoutMs, log }: RevocationFeedOptions): RevocationFeed {
  const replica = new RevocationReplica(layout.shards)
  const reader = new FeedReader({ redis, layout, replica, now, probeEveryMs: Math.max(5, Math.floor(maxLagMs / 4)), blockMs: Math.floor(commandTimeoutMs / 2), log })
  reader.start()
  return {
    replica,
    reader,
    layout,
    applyOwn(events) {
      for (const event of events) replica.apply(event, now())
    },
    close: () => reader.stop()
  }
}
