import type { Clock } from '../auth/clock.js'
import { RevocationReplica } from '../revocation/replica.js'
import { feedShardOf, type FeedEvent } from '../stores/revocation-feed.js'

export interface SseFeedOptions {
  /** The service's GET /oauth/revocations. */
  url: string
  clientId: string
  clientSecret: string
  /** What the replica's entries expire by. */
  clock: Clock
  /** Told every failure to connect or to read (the feed reconnects by itself). */
  onError?: (error: Error) => void
}

/** What a verifier needs of a feed: the replica it keeps, the shard of an owner, and how stale it may be. */
export interface ReplicaSource {
  replica(): RevocationReplica | undefined
  shardOf(id: string): number
  lagMs(): number
  close(): Promise<void>
}

const RECONNECT_MS = 1_000

/** RFC 6749 §2.3.1: the id and secret are form-urlencoded before base64. */
function basic(clientId: string, clientSecret: string): string {
  const encode = (value: string): string => encodeURIComponent(value).replace(/%20/g, '+')
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`
}

/**
 * The revocation feed over HTTP (routes/oauth/revocations.ts, revocation/subscription.ts), for services
 * that must not reach Redis: a snapshot, then live events, into an in-memory replica; reconnects with
 * Last-Event-ID. Freshness by this process's clock alone: a heartbeat written `elapsed_ms` after the
 * response began, when the service's replica was `lag_ms` old, proves every event up to
 * (request sent + elapsed_ms - lag_ms); a stream that falls behind proves less, never more.
 */
export function openSseFeed({ url, clientId, clientSecret, clock, onError }: SseFeedOptions): ReplicaSource {
  let replica: RevocationReplica | undefined
  let shards = 1
  let freshAt = Number.NEGATIVE_INFINITY
  let lastEventId: string | undefined
  let running = true
  const abort = new AbortController()

  function handle(event: string, data: string, requestSentAt: number): void {
    const value = JSON.parse(data) as Record<string, unknown>
    if (event === 'generation') {
      const generations = value.shards as number[]
      if (replica === undefined || shards !== generations.length) replica = new RevocationReplica(generations.length)
      shards = generations.length
      generations.forEach((generation, shard) => replica!.setGeneration(shard, generation))
    } else if (event === 'revocation') {
      replica?.apply(value as unknown as FeedEvent, clock.now())
    } else if (event === 'heartbeat' && typeof value.elapsed_ms === 'number' && typeof value.lag_ms === 'number') {
      freshAt = Math.max(freshAt, requestSentAt + value.elapsed_ms - value.lag_ms)
    }
  }

  async function readOnce(): Promise<void> {
    const headers: Record<string, string> = { accept: 'text/event-stream', authorization: basic(clientId, clientSecret) }
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId
    const requestSentAt = performance.now()
    const response = await fetch(url, { headers, signal: abort.signal })
    if (response.status !== 200 || response.body === null) {
      throw new Error(`GET ${url}: ${response.status} ${await response.text().catch(() => '')}`.trim())
    }
    const decoder = new TextDecoder()
    let text = ''
    let event = 'message'
    let data = ''
    for await (const chunk of response.body) {
      text += decoder.decode(chunk as Uint8Array, { stream: true })
      let newline: number
      while ((newline = text.indexOf('\n')) >= 0) {
        const line = text.slice(0, newline).replace(/\r$/, '')
        text = text.slice(newline + 1)
        if (line === '') {
          if (data !== '') handle(event, data, requestSentAt)
          event = 'message'
          data = ''
        } else if (line.startsWith('event:')) event = line.slice(6).trim()
        else if (line.startsWith('data:')) data += line.slice(5).trim()
        else if (line.startsWith('id:')) lastEventId = line.slice(3).trim()
      }
    }
  }

  const loop = (async () => {
    while (running) {
      try {
        await readOnce()
      } catch (error) {
        if (!running) return
        onError?.(error as Error)
      }
      if (running) await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS))
    }
  })()

  return {
    replica: () => replica,
    shardOf: (id) => feedShardOf(id, shards),
    lagMs: () => performance.now() - freshAt,
    async close() {
      running = false
      abort.abort()
      await loop
    }
  }
}
