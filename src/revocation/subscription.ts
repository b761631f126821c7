import { createHmac, timingSafeEqual } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { after, type FeedEntry, type FeedEvent, type Monotonic, parseFeedEvent, START } from '@jwt-auth-service/verifier/feed'
import type { RevocationFeed } from './index.js'

/**
 * GET /oauth/revocations, one subscriber: the feed as Server-Sent Events (text/event-stream).
 *
 *   event: generation   data {"shards":[<generation>, ...]}: first, always; the shards' generations
 *   event: revocation   data: one event (FeedEvent, the verifier package's feed/protocol.ts), in each shard's order
 *   event: ready        the snapshot (or the resumption) is complete: live events follow
 *   event: heartbeat    data {"elapsed_ms", "lag_ms"}, every `heartbeatMs` while the subscriber keeps up
 *
 * `ready` and every heartbeat carry an id, the cursor: the generations, how far each shard was sent, and a
 * MAC under a key the instances share, so that only a cursor this service issued resumes. A Last-Event-ID
 * with a valid MAC and the current generations resumes after it; any other (forged, from the future,
 * malformed, oversized, of another generation, from before a gap) gets the whole snapshot again.
 *
 * The lag rule, for a subscriber that trusts no clock but its own (library/sse-feed.ts): `elapsed_ms` is
 * how long after this response began (this process's monotonic clock) the heartbeat was written, and
 * `lag_ms` how stale this instance's replica was then. The subscriber knows the response began after it
 * sent the request, so everything before the heartbeat was complete as of (request sent + elapsed_ms -
 * lag_ms) on its own clock; a backlogged stream makes that older, never newer.
 *
 * Backpressure: nothing is queued in memory for a subscriber beyond one batch. The snapshot is read from
 * Redis a batch at a time, each written only once the previous one has drained; a live subscriber that
 * stops draining misses nothing either: its events are read again from Redis, from its position, once it
 * drains (and heartbeats, which would vouch for it, pause meanwhile). A subscriber that does not drain
 * for STALL_MS is cut off; it resumes with its cursor.
 */
export interface SubscriptionOptions {
  feed: RevocationFeed
  lastEventId: string | undefined
  heartbeatMs: number
  /**
   * Whether the subscriber may still read the feed (its client still exists, keeps the privilege, has the
   * same credentials), asked every `recheckMs`; the subscription ends when it answers false or fails.
   */
  stillAllowed: () => Promise<boolean>
  recheckMs: number
  /** Told when the subscriber is cut off for reading nothing for STALL_MS. */
  onStalled?: () => void
  monotonic?: Monotonic
}

/** Entries read from Redis per batch: what a subscriber holds in memory at most, about 150 bytes each. */
export const SNAPSHOT_BATCH = 500
/** A subscriber whose connection takes no data for this long is cut off (ms). */
export const STALL_MS = 5_000
/** The longest Last-Event-ID looked at; a longer one is no cursor of ours. */
const MAX_CURSOR_LENGTH = 4096

interface Cursor {
  generations: string[]
  positions: string[]
}

const mac = (secret: Buffer, body: string): string => createHmac('sha256', secret).update(body).digest('base64url').slice(0, 22)

export function encodeCursor(secret: Buffer, { generations, positions }: Cursor): string {
  const body = `${generations.join('.')}~${positions.join(',')}`
  return `${body}~${mac(secret, body)}`
}

/** The cursor, when this service issued it (its MAC is right) for this many shards; undefined otherwise. */
export function decodeCursor(secret: Buffer, text: string | undefined, shards: number): Cursor | undefined {
  if (text === undefined || text.length > MAX_CURSOR_LENGTH) return undefined
  const match = /^([\d.]+)~([\d,-]+)~([\w-]{22})$/.exec(text)
  if (match === null) return undefined
  const expected = Buffer.from(mac(secret, `${match[1]}~${match[2]}`))
  const presented = Buffer.from(match[3]!)
  if (!timingSafeEqual(expected, presented)) return undefined
  const generations = match[1]!.split('.')
  const positions = match[2]!.split(',')
  const wellFormed = generations.length === shards && positions.length === shards && positions.every((id) => /^\d+-\d+$/.test(id))
  return wellFormed ? { generations, positions } : undefined
}

const message = (event: string, data: unknown, id?: string): string =>
  `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`

class Closed extends Error {}

/** Streams the feed to `response` until it closes. The caller has authorised the subscriber. */
export async function streamFeed(response: ServerResponse, options: SubscriptionOptions): Promise<void> {
  const { feed, heartbeatMs } = options
  const monotonic = options.monotonic ?? (() => performance.now())
  const startedAt = monotonic()
  const { layout, reader } = feed
  let closed = false
  /** live: events are written as the reader applies them; otherwise they are read from Redis (catching up). */
  let live = false
  let catchingUp: Promise<void> | undefined
  const timers: NodeJS.Timeout[] = []
  const waiters = new Set<() => void>()

  const close = (): void => {
    if (closed) return
    closed = true
    for (const timer of timers) clearInterval(timer)
    reader.off('entry', onEntry)
    reader.off('generation', onGeneration)
    for (const wake of waiters) wake()
    feed.subscribers.delete(response)
  }
  /** Ends the response (the subscriber reconnects with its cursor); nothing is written after this. */
  const finish = (): void => {
    close()
    response.end()
  }
  response.on('close', close)
  // Socket errors show as 'close'; an 'error' without a listener would end the process.
  response.on('error', () => {})
  feed.subscribers.add(response)

  /** Resolves once the response has drained; throws Closed when it closes first, and cuts it off after STALL_MS. */
  const drained = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(stall)
        response.off('drain', done)
        waiters.delete(done)
        if (closed) reject(new Closed())
        else resolve()
      }
      const stall = setTimeout(() => {
        options.onStalled?.()
        response.destroy()
      }, STALL_MS)
      response.on('drain', done)
      waiters.add(done)
    })

  /** Writes and waits while the subscriber is behind: the snapshot's pace is the subscriber's. */
  const write = async (chunk: string): Promise<void> => {
    if (closed) throw new Closed()
    if (!response.write(chunk)) await drained()
  }

  /** A write while live: when the subscriber falls behind, live events are read from Redis again once it drains. */
  const writeLive = (chunk: string): void => {
    if (closed || !live) return
    if (!response.write(chunk)) {
      live = false
      catchingUp = drained()
        .then(catchUp)
        .catch((error: unknown) => {
          if (!(error instanceof Closed)) response.destroy()
        })
    }
  }

  const cursorOf = (secret: Buffer): string => encodeCursor(secret, current)
  const onEntry = ({ shard, id, event }: FeedEntry): void => {
    if (!live || !after(id, current.positions[shard]!)) return
    current.positions[shard] = id
    writeLive(message('revocation', event))
  }
  // A new generation on this instance: the subscriber starts over, with a snapshot of the new one.
  const onGeneration = (): void => finish()

  /** Reads every shard from the subscriber's position up to the reader's, then goes live (in the same tick). */
  async function catchUp(): Promise<void> {
    for (;;) {
      for (let shard = 0; shard < layout.shards; shard++) {
        for (;;) {
          const entries = await feed.entriesAfter(shard, current.positions[shard]!, SNAPSHOT_BATCH)
          let chunk = ''
          for (const [id, fields] of entries) {
            current.positions[shard] = id
            const event: FeedEvent | undefined = parseFeedEvent(fields)
            if (event !== undefined) chunk += message('revocation', event)
          }
          if (chunk !== '') await write(chunk)
          if (entries.length < SNAPSHOT_BATCH) break
        }
      }
      // Every event the reader has passed on so far is at or before its positions: once this subscriber
      // is there too, the reader's next events are the ones to send.
      const ahead = reader.positions().some((position, shard) => after(position, current.positions[shard]!))
      if (!ahead) break
    }
    if (closed) throw new Closed()
    live = true
  }

  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
    connection: 'keep-alive'
  })
  response.write('retry: 1000\n\n')

  // The reader learns the generations at its first probe, a few milliseconds after it starts.
  let known = knownGenerations(feed)
  for (let waited = 0; known === undefined && waited < 5_000 && !closed; waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    known = knownGenerations(feed)
  }
  if (known === undefined || closed) return finish()
  const current: Cursor = { generations: known, positions: new Array<string>(layout.shards).fill(START) }
  reader.on('entry', onEntry)
  reader.on('generation', onGeneration)

  const recheck = setInterval(() => {
    options.stillAllowed().then(
      (allowed) => allowed || finish(),
      () => finish()
    )
  }, options.recheckMs)
  timers.push(recheck)

  try {
    const secret = await feed.cursorSecret()
    const resumed = decodeCursor(secret, options.lastEventId, layout.shards)
    if (resumed !== undefined && resumed.generations.join('.') === known.join('.')) {
      const gaps = await Promise.all(resumed.positions.map(async (position, shard) => after(await feed.deletedUpTo(shard), position)))
      if (!gaps.includes(true)) current.positions = resumed.positions
    }
    await write(message('generation', { shards: known.map(Number) }))
    await catchUp()
    await write(message('ready', {}, cursorOf(secret)))
    const heartbeat = setInterval(() => {
      if (!live) return
      // Rounded so that the subscriber can only think its replica older than it is.
      const data = { elapsed_ms: Math.floor(monotonic() - startedAt), lag_ms: Math.ceil(reader.lagMs()) }
      writeLive(message('heartbeat', data, cursorOf(secret)))
    }, heartbeatMs)
    timers.push(heartbeat)
    await new Promise<void>((resolve) => (closed ? resolve() : response.once('close', resolve)))
    await catchingUp
  } catch (error) {
    if (error instanceof Closed) return
    throw error
  }
}

function knownGenerations(feed: RevocationFeed): string[] | undefined {
  const known = feed.reader.currentGenerations()
  return known.every((value) => value !== undefined) ? known.map(String) : undefined
}
