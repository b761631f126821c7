import { EventEmitter } from 'node:events'
import type { RedisClient } from '../stores/redis-connection.js'
import { LUA_FEED, parseFeedEvent, type FeedEvent, type FeedLayout } from '../stores/revocation-feed.js'
import type { RevocationReplica } from './replica.js'

/** One entry of a shard, as the reader passed it on. */
export interface FeedEntry {
  shard: number
  /** The stream entry id, `<ms>-<seq>`. */
  id: string
  event: FeedEvent
}

export interface FeedReaderOptions {
  /**
   * A connection to the revocation store, for the probes; the reader opens one more per shard
   * (`duplicate`) for its blocking reads.
   */
  redis: RedisClient
  layout: FeedLayout
  replica: RevocationReplica
  /** The service's clock (ms): what the replica's entries expire by. */
  now: () => number
  /** How often (ms) the head of every shard is probed: the idle lag is about this, plus a round trip. */
  probeEveryMs: number
  /** How long one blocking read waits for an event (ms); below the command timeout. */
  blockMs: number
  log: { warn(details: object, message: string): void }
}

const BATCH = 10_000
/** The position before a stream's first entry. */
export const START = '0-0'
/** Probes remembered per shard while its reads catch up with them. */
const MAX_PENDING_PROBES = 64
/** After a failed read, the next one waits this long (ms): the connection is reconnecting meanwhile. */
const RETRY_MS = 100

// KEYS: the shard's generation. Begins one, as the writing scripts do, when there is none (Redis lost its
// data, or the feed is new), and answers it.
const GENERATION = `${LUA_FEED}
generation()
return redis.call('GET', KEYS[1])`

/** a > b for stream entry ids. */
export function after(a: string, b: string): boolean {
  const [aMs, aSeq] = a.split('-').map(Number) as [number, number]
  const [bMs, bSeq] = b.split('-').map(Number) as [number, number]
  return aMs !== bMs ? aMs > bMs : aSeq > bSeq
}

/** A field of XINFO STREAM's flat answer (an id); START when the stream does not exist yet. */
export function infoField(info: unknown, name: 'last-generated-id' | 'max-deleted-entry-id'): string {
  if (!Array.isArray(info)) return START
  const at = info.indexOf(name)
  return at >= 0 && typeof info[at + 1] === 'string' ? (info[at + 1] as string) : START
}

interface Shard {
  /** The last entry id read and applied. */
  position: string
  generation: string | undefined
  /** performance.now() of the last probe whose newest entry had been read: the replica was complete then. */
  freshAt: number
  /** Probes answered before the reads caught up with them: when they were sent, and the newest entry then. */
  pending: { askedAt: number; head: string }[]
  /** Bumped when the shard is re-read from its start: a read in flight from before is then discarded. */
  resets: number
}

/**
 * Follows the revocation feed into the replica. Per shard, a blocking read from the shard's start (the
 * snapshot) on, which wakes as soon as an event is appended; and every `probeEveryMs`, on the main
 * connection, a probe of every shard's generation and newest entry.
 *
 * Staleness is measured by this process's monotonic clock only, never another host's: once the reads
 * have applied the newest entry a probe saw, the replica is complete as of the moment that probe was
 * sent (`freshAt`). A feed that flows but lags behind does not move `freshAt`, a broken connection does
 * not either; `lagMs()` is how long ago the least recent shard was complete. A new generation (Redis
 * lost its data) makes the replica refuse every token issued before it, and the shard is read again from
 * its start; so is a shard that shows a gap (entries past this reader's position deleted before it read them).
 */
export class FeedReader extends EventEmitter<{ entry: [FeedEntry]; generation: [number, number] }> {
  private readonly shards: Shard[]
  private readonly connections: RedisClient[] = []
  private running = false
  private loops: Promise<void>[] = []
  /** Ends the wait between two probes (stop). */
  private wake = (): void => {}

  constructor(private readonly options: FeedReaderOptions) {
    super()
    // By its SHA once loaded, rather than the script's text with every probe.
    options.redis.defineCommand('jwtFeedGeneration', { numberOfKeys: 1, lua: GENERATION })
    this.shards = Array.from({ length: options.layout.shards }, () => ({
      position: START,
      generation: undefined,
      freshAt: Number.NEGATIVE_INFINITY,
      pending: [],
      resets: 0
    }))
  }

  start(): void {
    if (this.running) return
    this.running = true
    for (let shard = 0; shard < this.shards.length; shard++) {
      const connection = this.options.redis.duplicate()
      connection.on('error', () => {}) // seen as failed reads (lag), and reported by the main connection
      this.connections.push(connection)
      this.loops.push(this.follow(shard, connection))
    }
    this.loops.push(this.probeLoop())
  }

  async stop(): Promise<void> {
    this.running = false
    this.wake()
    for (const connection of this.connections) connection.disconnect()
    await Promise.allSettled(this.loops)
  }

  /** How long ago (ms, monotonic) the replica was last known to hold every event of every shard. */
  lagMs(): number {
    let oldest = Number.POSITIVE_INFINITY
    for (const shard of this.shards) if (shard.freshAt < oldest) oldest = shard.freshAt
    return performance.now() - oldest
  }

  /** The shards' generations (Redis time, ms) once known. */
  currentGenerations(): (number | undefined)[] {
    return this.shards.map(({ generation }) => (generation === undefined ? undefined : Number(generation)))
  }

  private reset(shard: Shard): void {
    shard.position = START
    shard.pending = []
    shard.resets++
  }

  private async probeLoop(): Promise<void> {
    while (this.running) {
      await this.probe().catch(() => {})
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.probeEveryMs)
        this.wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
  }

  private async probe(): Promise<void> {
    const { redis, layout, replica, log } = this.options
    const askedAt = performance.now()
    const answers = await Promise.all(
      this.shards.map((_, index) =>
        redis
          .pipeline([
            ['jwtFeedGeneration', layout.generation(index)],
            ['xinfo', 'STREAM', layout.stream(index)]
          ])
          .exec()
      )
    )
    answers.forEach((results, index) => {
      const shard = this.shards[index]!
      const [[generationError, generation] = [null, undefined], [, info] = [null, undefined]] = (results ?? []) as [Error | null, unknown][]
      if (generationError !== null || typeof generation !== 'string') return
      if (generation !== shard.generation) {
        const known = shard.generation !== undefined
        shard.generation = generation
        replica.setGeneration(index, Number(generation))
        this.emit('generation', index, Number(generation))
        if (known) {
          log.warn({ shard: index, generation }, 'revocation feed: a new generation (the store lost its data); re-reading the shard')
          this.reset(shard)
        }
      } else if (shard.position !== START && after(infoField(info, 'max-deleted-entry-id'), shard.position)) {
        log.warn({ shard: index, position: shard.position }, 'revocation feed: entries were deleted before this reader read them; re-reading the shard')
        this.reset(shard)
      }
      const head = infoField(info, 'last-generated-id')
      if (after(head, shard.position)) {
        shard.pending.push({ askedAt, head })
        // Reads stuck behind (their connection down) must not grow this without end. Dropping the oldest
        // only forgoes an older proof: a later probe's head, once read, proves a later moment.
        if (shard.pending.length > MAX_PENDING_PROBES) shard.pending.shift()
      } else shard.freshAt = askedAt
    })
  }

  private async follow(index: number, connection: RedisClient): Promise<void> {
    const { layout, replica, now, blockMs } = this.options
    const shard = this.shards[index]!
    const stream = layout.stream(index)
    await connection.connect().catch(() => {})
    while (this.running) {
      const resets = shard.resets
      try {
        const read = (await connection.xread('COUNT', BATCH, 'BLOCK', blockMs, 'STREAMS', stream, shard.position)) as [string, [string, string[]][]][] | null
        if (shard.resets !== resets) continue
        for (const [id, fields] of read?.[0]?.[1] ?? []) {
          shard.position = id
          const event = parseFeedEvent(fields)
          if (event === undefined) continue
          replica.apply(event, now())
          this.emit('entry', { shard: index, id, event })
        }
        while (shard.pending.length > 0 && !after(shard.pending[0]!.head, shard.position)) shard.freshAt = shard.pending.shift()!.askedAt
      } catch {
        if (!this.running) return
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS))
      }
    }
  }
}
