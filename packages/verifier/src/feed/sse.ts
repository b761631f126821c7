import type { Clock, Monotonic } from '../clock.js'
import { feedShardOf, type FeedEvent } from './protocol.js'
import { RevocationReplica } from './replica.js'

export interface SseFeedOptions {
  /** The service's GET /oauth/revocations. */
  url: string
  /** The client reading the feed (with the `revocations` privilege): named in errors, and in Basic auth. */
  clientId: string
  /** client_secret_basic; or, for a client without a secret (private_key_jwt, workload identity), `accessToken`. */
  clientSecret?: string
  /**
   * An access token of the client's own for the feed's URL as resource (RFC 8707), sent as Bearer: asked again for
   * every connection, so it may cache and renew one. The service ends a connection whose token expires or is
   * revoked, and the feed reconnects with a new one.
   */
  accessToken?: () => Promise<string>
  /** What the replica's entries expire by. */
  clock: Clock
  /** The verifier's bound: a connection whose proof cannot reach it for its own set-up delay is made again. */
  maxLagMs: number
  /** Told every failure to connect or to read (the feed reconnects by itself). */
  onError?: (error: Error) => void
  monotonic?: Monotonic
}

/** What a verifier needs of a feed: the replica it keeps, the shard of an owner, and how stale it may be. */
export interface ReplicaSource {
  replica(): RevocationReplica | undefined
  shardOf(id: string): number
  lagMs(): number
  /** The latest failure to connect or to read, until the feed is fresh again: what a timeout names. */
  lastError(): Error | undefined
  close(): Promise<void>
}

/** What the service's answer means for the one who set the verifier up (RFC 6750 §3.1 for 401 and 403). */
function refusal(url: string, clientId: string, status: number, body: string): Error {
  if (status === 404) return new Error(`${url} has no revocation feed (it needs REDIS_URL): 404; is it the service's /oauth/revocations, and does the service keep its revocations in Redis?`)
  if (status === 401) return new Error(`${url} refused the credentials of client ${JSON.stringify(clientId)} (401): check clientId and clientSecret, or the access token (for ${url} as resource)`)
  if (status === 403) return new Error(`client ${JSON.stringify(clientId)} may not read the revocation feed (403): give it the privilege (clients update ${clientId} --allow revocations)`)
  return new Error(`GET ${url}: ${status} ${body}`.trim())
}

/** After a failed connection, the next one waits this long (ms); after one the service ended, this much less. */
const RECONNECT_MS = 1_000
const RESUME_MS = 50
/** The least time between two connections made only to measure their set-up again (ms). */
const REANCHOR_EVERY_MS = 1_000

/** RFC 6749 §2.3.1: the id and secret are form-urlencoded before base64. */
function basic(clientId: string, clientSecret: string): string {
  const encode = (value: string): string => encodeURIComponent(value).replace(/%20/g, '+')
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`
}

/**
 * The revocation feed over HTTP (the service's GET /oauth/revocations), for services
 * that must not reach Redis: a snapshot, then live events, into an in-memory replica; reconnects with
 * Last-Event-ID. Freshness by this process's clock alone: a heartbeat written `elapsed_ms` after the
 * response began, when the service's replica was `lag_ms` old, proves every event up to
 * (request sent + elapsed_ms - lag_ms); a stream that falls behind proves less, never more.
 *
 * The proof counts the time from sending the request to the response's start (a service that was slow
 * to start answering, a stall) against every heartbeat of the connection. When that set-up delay alone
 * keeps the proof from the bound while the service itself is fresh, the connection is made again (it
 * resumes at its cursor, with no snapshot): a slow start costs its own duration, not the connection's life.
 */
export function openSseFeed({ url, clientId, clientSecret, accessToken, clock, maxLagMs, onError, monotonic = () => performance.now() }: SseFeedOptions): ReplicaSource {
  if ((clientSecret === undefined) === (accessToken === undefined)) throw new TypeError('the HTTP feed needs clientSecret or accessToken, one of them')
  const authorization = async (): Promise<string> => (clientSecret !== undefined ? basic(clientId, clientSecret) : `Bearer ${await accessToken!()}`)
  let replica: RevocationReplica | undefined
  let shards = 1
  let freshAt = Number.NEGATIVE_INFINITY
  let lastEventId: string | undefined
  let running = true
  let connection = new AbortController()
  let reanchoredAt = Number.NEGATIVE_INFINITY
  let failure: Error | undefined

  /** One connection: when its request was sent, and the least delay seen between a heartbeat's writing and its arrival. */
  interface Connection {
    sentAt: number
    leastDelay: number
  }

  function handle(event: string, data: string, current: Connection): void {
    const value = JSON.parse(data) as Record<string, unknown>
    if (event === 'generation') {
      const generations = value.shards as number[]
      if (replica === undefined || shards !== generations.length) replica = new RevocationReplica(generations.length)
      shards = generations.length
      generations.forEach((generation, shard) => replica!.setGeneration(shard, generation))
    } else if (event === 'revocation') {
      replica?.apply(value as unknown as FeedEvent, clock.now())
    } else if (event === 'heartbeat' && typeof value.elapsed_ms === 'number' && typeof value.lag_ms === 'number') {
      const arrived = monotonic()
      const written = current.sentAt + value.elapsed_ms
      freshAt = Math.max(freshAt, written - value.lag_ms)
      // At least the set-up delay (the request's trip and the service's start); plus this heartbeat's own trip.
      current.leastDelay = Math.min(current.leastDelay, arrived - written)
      const setUpTooSlow = current.leastDelay > maxLagMs / 4 && arrived - freshAt > maxLagMs / 2 && value.lag_ms <= maxLagMs / 2
      if (setUpTooSlow && arrived - reanchoredAt > REANCHOR_EVERY_MS) {
        reanchoredAt = arrived
        connection.abort()
      }
    }
  }

  async function readOnce(signal: AbortSignal): Promise<void> {
    const headers: Record<string, string> = { accept: 'text/event-stream', authorization: await authorization() }
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId
    const current: Connection = { sentAt: monotonic(), leastDelay: Number.POSITIVE_INFINITY }
    const response = await fetch(url, { headers, signal })
    if (response.status !== 200 || response.body === null) {
      throw refusal(url, clientId, response.status, await response.text().catch(() => ''))
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
          if (data !== '') handle(event, data, current)
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
      connection = new AbortController()
      const reanchoring = (): boolean => running && connection.signal.aborted
      let pause = RESUME_MS
      try {
        // Ended by the service (a new generation, a credential re-checked): resume at once.
        await readOnce(connection.signal)
      } catch (error) {
        if (!running) return
        if (!reanchoring()) {
          failure = error as Error
          onError?.(failure)
          pause = RECONNECT_MS
        }
      }
      if (running && !reanchoring()) await new Promise((resolve) => setTimeout(resolve, pause))
    }
  })()

  return {
    replica: () => replica,
    shardOf: (id) => feedShardOf(id, shards),
    lagMs: () => monotonic() - freshAt,
    lastError: () => (monotonic() - freshAt <= maxLagMs ? undefined : failure),
    async close() {
      running = false
      connection.abort()
      await loop
    }
  }
}
