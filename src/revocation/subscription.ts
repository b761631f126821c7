import type { ServerResponse } from 'node:http'
import type { RedisClient } from '../stores/redis-connection.js'
import { parseFeedEvent, type FeedEvent } from '../stores/revocation-feed.js'
import { after, infoField, START, type FeedEntry } from './feed-reader.js'
import type { RevocationFeed } from './index.js'

/**
 * GET /oauth/revocations, one subscriber: the feed as Server-Sent Events (text/event-stream).
 *
 *   event: generation   data {"shards":[<generation ms>, ...]}: first, always; the shards' generations
 *   event: revocation   data: one event (revocation-feed.ts FeedEvent), in each shard's order
 *   event: ready        the snapshot (or the resumption) is complete: live events follow
 *   event: heartbeat    data {"elapsed_ms", "lag_ms"}, every `heartbeatMs` once ready
 *
 * `ready` and every heartbeat carry an id, the cursor: the generations and how far each shard was sent.
 * A Last-Event-ID with the current generations resumes after it; any other (stale, unknown, from before
 * a gap) gets the whole snapshot again.
 *
 * The lag rule, for a subscriber that trusts no clock but its own (library/sse-feed.ts): `elapsed_ms` is
 * how long after this response began (this process's monotonic clock) the heartbeat was written, and
 * `lag_ms` how stale this instance's replica was then. The subscriber knows the response began after it
 * sent the request, so everything before the heartbeat was complete as of (request sent + elapsed_ms -
 * lag_ms) on its own clock; a backlogged stream makes that older, never newer.
 */
export interface SubscriptionOptions {
  redis: RedisClient
  feed: RevocationFeed
  lastEventId: string | undefined
  heartbeatMs: number
  log: { warn(details: object, message: string): void }
}

/** A subscriber that reads slower than events come is cut off past this much unsent data; it resumes with its cursor. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024
const SNAPSHOT_BATCH = 1_000

interface Cursor {
  generations: string[]
  positions: string[]
}

export const encodeCursor = ({ generations, positions }: Cursor): string => `${generations.join('.')}~${positions.join(',')}`

function decodeCursor(text: string | undefined, shards: number): Cursor | undefined {
  const match = text === undefined ? null : /^([\d.]+)~([\d,-]+)$/.exec(text)
  if (match === null) return undefined
  const generations = match[1]!.split('.')
  const positions = match[2]!.split(',')
  const wellFormed = generations.length === shards && positions.length === shards && positions.every((id) => /^\d+-\d+$/.test(id))
  return wellFormed ? { generations, positions } : undefined
}

const message = (event: string, data: unknown, id?: string): string =>
  `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`

/** The deleted-up-to id of a shard (XINFO STREAM), START when it has none. */
async function maxDeletedOf(redis: RedisClient, stream: string): Promise<string> {
  return infoField(await redis.xinfo('STREAM', stream).catch(() => undefined), 'max-deleted-entry-id')
}

/** Streams the feed to `response` until it closes. The caller has authorised the subscriber. */
export async function streamFeed(response: ServerResponse, { redis, feed, lastEventId, heartbeatMs }: SubscriptionOptions): Promise<void> {
  const startedAt = performance.now()
  const { layout, reader } = feed
  let closed = false
  let live = false
  const buffered: FeedEntry[] = []
  const send = (chunk: string): void => {
    if (closed) return
    response.write(chunk)
    if (response.writableLength > MAX_BUFFERED_BYTES) response.destroy()
  }

  const generations = (): string[] | undefined => {
    const known = reader.currentGenerations()
    return known.every((value) => value !== undefined) ? known.map(String) : undefined
  }
  const cursor = (): string => encodeCursor({ generations: current.generations, positions: current.positions })
  const sendEntry = ({ shard, id, event }: { shard: number; id: string; event: FeedEvent }): void => {
    if (!after(id, current.positions[shard]!)) return
    current.positions[shard] = id
    send(message('revocation', event))
  }
  const onEntry = (entry: FeedEntry): void => {
    if (live) sendEntry(entry)
    else buffered.push(entry)
  }
  // A new generation on this instance: the subscriber starts over, with a snapshot of the new one.
  const onGeneration = (): void => void response.end()
  // Set once the snapshot is sent; cleared when the subscriber goes.
  const heartbeat: { timer?: NodeJS.Timeout } = {}
  response.on('close', () => {
    closed = true
    clearInterval(heartbeat.timer)
    reader.off('entry', onEntry)
    reader.off('generation', onGeneration)
  })

  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
    connection: 'keep-alive'
  })
  send('retry: 1000\n\n')

  // The reader learns the generations at its first probe, a few milliseconds after it starts.
  let known = generations()
  for (let waited = 0; known === undefined && waited < 5_000 && !closed; waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    known = generations()
  }
  if (known === undefined || closed) return void response.end()
  const current: Cursor = { generations: known, positions: new Array<string>(layout.shards).fill(START) }
  reader.on('entry', onEntry)
  reader.on('generation', onGeneration)

  const resumed = decodeCursor(lastEventId, layout.shards)
  if (resumed !== undefined && resumed.generations.join('.') === known.join('.')) {
    const gaps = await Promise.all(resumed.positions.map(async (position, shard) => after(await maxDeletedOf(redis, layout.stream(shard)), position)))
    if (!gaps.includes(true)) current.positions = resumed.positions
  }
  send(message('generation', { shards: known.map(Number) }))

  for (let shard = 0; shard < layout.shards && !closed; shard++) {
    for (;;) {
      const from = current.positions[shard] === START ? '-' : `(${current.positions[shard]}`
      const entries = await redis.xrange(layout.stream(shard), from, '+', 'COUNT', SNAPSHOT_BATCH)
      for (const [id, fields] of entries) {
        const event = parseFeedEvent(fields)
        if (event === undefined) current.positions[shard] = id
        else sendEntry({ shard, id, event })
      }
      if (entries.length < SNAPSHOT_BATCH || closed) break
    }
  }
  for (const entry of buffered.splice(0)) sendEntry(entry)
  live = true
  send(message('ready', {}, cursor()))
  if (closed) return
  heartbeat.timer = setInterval(() => {
    // Rounded so that the subscriber can only think its replica older than it is.
    send(message('heartbeat', { elapsed_ms: Math.floor(performance.now() - startedAt), lag_ms: Math.ceil(reader.lagMs()) }, cursor()))
  }, heartbeatMs)
}
