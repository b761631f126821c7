import { EventEmitter } from 'node:events'
import type { Monotonic } from '../clock.js'
import { defineLuaScripts, luaScript, runLua } from '../lua.js'
import type { RedisClient } from '../redis.js'
import { FEED_KEYS, LUA_FEED, parseFeedEvent, type FeedEvent, type FeedLayout } from './protocol.js'
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
  /**
   * Whether this reader may begin a shard's generation where there is none (the feed is new, or Redis lost
   * its data). Only the service may: a reader that finds no generation under its key prefix (a library
   * pointed at the wrong prefix) must not invent a feed that nobody writes, and stays stale instead.
   */
  beginGeneration: boolean
  log: { warn(details: object, message: string): void }
  monotonic?: Monotonic
}

const BATCH = 10_000
/** The position before a stream's first entry. */
export const START = '0-0'
/** Probes remembered per shard while its reads catch up with them. */
const MAX_PENDING_PROBES = 64
/** After a failed read, the next one waits this long (ms): the connection is reconnecting meanwhile. */
const RETRY_MS = 100

/** A shard's probe (lua/probe.lua); its reply is checked in `probed`, where anything unexpected proves nothing. */
const PROBE = luaScript({
  command: 'jwtFeedProbe',
  source: new URL('./lua/probe.lua', import.meta.url),
  libraries: [LUA_FEED],
  keys: FEED_KEYS,
  args: ['mayBegin', 'position', 'generation'],
  decode: (value: unknown): unknown => value
})

/** a > b for stream entry ids. */
export function after(a: string, b: string): boolean {
  const [aMs, aSeq] = a.split('-').map(Number) as [number, number]
  const [bMs, bSeq] = b.split('-').map(Number) as [number, number]
  return aMs !== bMs ? aMs > bMs : aSeq > bSeq
}

const STREAM_ID = /^\d+-\d+$/

interface Shard {
  /** The last entry id read and applied. */
  position: string
  generation: string | undefined
  /** The monotonic time of the last probe whose newest entry had been read: the replica was complete then. */
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
 * not either, and neither does a probe that failed or answered anything unexpected: the proof fails
 * closed. `lagMs()` is how long ago the least recent shard was complete. A new generation (Redis lost its
 * data) makes the replica refuse every token issued before it, and the shard is read again from its
 * start; so is a shard that shows a gap (entries past this reader's position deleted before it read them).
 */
export class FeedReader extends EventEmitter<{ entry: [FeedEntry]; generation: [number, number]; missing: [number] }> {
  private readonly shards: Shard[]
  private readonly connections: RedisClient[] = []
  private readonly monotonic: Monotonic
  private running = false
  private loops: Promise<void>[] = []
  /** Ends the wait between two probes (stop). */
  private wake = (): void => {}

  constructor(private readonly options: FeedReaderOptions) {
    super()
    this.monotonic = options.monotonic ?? (() => performance.now())
    // By its SHA once loaded, rather than the script's text with every probe.
    defineLuaScripts(options.redis, [PROBE])
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
    return this.monotonic() - oldest
  }

  /** The shards' generations (Redis time, µs) once known. */
  currentGenerations(): (number | undefined)[] {
    return this.shards.map(({ generation }) => (generation === undefined ? undefined : Number(generation)))
  }

  /** How far each shard has been read and applied (stream entry ids). */
  positions(): string[] {
    return this.shards.map(({ position }) => position)
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
    const { redis, layout, beginGeneration } = this.options
    const askedAt = this.monotonic()
    // One command per shard (their keys are in different slots on a Cluster); auto-pipelining sends them together.
    const answers = await Promise.all(
      this.shards.map((shard, index) =>
        runLua(
          redis,
          PROBE,
          { feedStream: layout.stream(index), feedGeneration: layout.generation(index) },
          { mayBegin: beginGeneration ? '1' : '0', position: shard.position, generation: shard.generation ?? '' }
        ).catch(() => undefined)
      )
    )
    answers.forEach((answer, index) => this.probed(index, askedAt, answer))
  }

  /** One shard's probe answer; anything but a well-formed answer proves nothing. */
  private probed(index: number, askedAt: number, answer: unknown): void {
    if (!Array.isArray(answer) || answer.length !== 3) return
    const [generation, head, deleted] = answer as unknown[]
    if (typeof head !== 'string' || !STREAM_ID.test(head) || typeof deleted !== 'string' || !STREAM_ID.test(deleted)) return
    const shard = this.shards[index]!
    if (typeof generation !== 'string' || !/^\d+$/.test(generation)) {
      // No generation under this prefix: no feed that anyone writes. Never fresh.
      this.emit('missing', index)
      return
    }
    if (generation !== shard.generation) {
      const known = shard.generation !== undefined
      shard.generation = generation
      this.options.replica.setGeneration(index, Number(generation))
      this.emit('generation', index, Number(generation))
      if (known) {
        this.options.log.warn({ shard: index, generation }, 'revocation feed: a new generation (the store lost its data); re-reading the shard')
        this.reset(shard)
      }
    } else if (shard.position !== START && after(deleted, shard.position)) {
      this.options.log.warn({ shard: index, position: shard.position }, 'revocation feed: entries were deleted before this reader read them; re-reading the shard')
      this.reset(shard)
    }
    if (after(head, shard.position)) {
      shard.pending.push({ askedAt, head })
      // Reads stuck behind (their connection down) must not grow this without end. Dropping the oldest
      // only forgoes an older proof: a later probe's head, once read, proves a later moment.
      if (shard.pending.length > MAX_PENDING_PROBES) shard.pending.shift()
    } else if (askedAt > shard.freshAt) shard.freshAt = askedAt
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
        while (shard.pending.length > 0 && !after(shard.pending[0]!.head, shard.position)) {
          const { askedAt } = shard.pending.shift()!
          if (askedAt > shard.freshAt) shard.freshAt = askedAt
        }
      } catch {
        if (!this.running) return
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS))
      }
    }
  }
}
