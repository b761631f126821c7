import { request, type IncomingMessage } from 'node:http'
import { connect } from 'node:net'
import { Redis } from 'ioredis'
import { rssMb, sleep } from './processes.js'

/** The feed's subscribers under stress: a long feed, many at once, slow readers and readers that never read. */
export interface FeedStressFigures {
  events: number
  /** One subscriber reading as fast as it can: from the request to `ready`. */
  snapshotMs: number
  snapshotMb: number
  /** Ten at once: the slowest one's time to `ready`. */
  tenAtOnceMs: number
  /** Ten reading 1.5 MB/s each: the slowest one's time to `ready`, and the service's RSS before and at its peak. */
  slow: { readyMs: number; rssBeforeMb: number; rssPeakMb: number }
  /** Ten that never read: the service's RSS before and at its peak over STALL_MS and more, and how many it cut off. */
  stalled: { rssBeforeMb: number; rssPeakMb: number; cut: number }
}

const EVENTS = 150_000
const SLOW_BYTES_PER_SECOND = 1.5e6

/** Appends `count` token revocations to the single-Redis feed, as a busy deployment would have them. */
async function fill(redisUrl: string, keyPrefix: string, count: number): Promise<void> {
  const redis = new Redis(redisUrl)
  const until = Date.now() + 3_600_000
  try {
    for (let done = 0; done < count; done += 5_000) {
      const pipeline = redis.pipeline()
      for (let i = done; i < Math.min(count, done + 5_000); i++) pipeline.xadd(`${keyPrefix}{f:0}:feed`, '*', 'k', 'j', 'i', `bench-${i.toString(36).padStart(16, '0')}`, 'u', until)
      await pipeline.exec()
    }
  } finally {
    redis.disconnect()
  }
}

/** Subscribes; resolves with the time to `ready` (ms) and the bytes read, reading at most `bytesPerSecond`. */
function subscribe(url: string, authorization: string, bytesPerSecond = Infinity): Promise<{ readyMs: number; bytes: number }> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const req = request(`${url}/oauth/revocations`, { headers: { authorization, accept: 'text/event-stream' } }, (response: IncomingMessage) => {
      let bytes = 0
      let tail = ''
      const budgetPer100Ms = bytesPerSecond / 10
      let budget = budgetPer100Ms
      const refill = Number.isFinite(bytesPerSecond)
        ? setInterval(() => {
            budget = budgetPer100Ms
            response.resume()
          }, 100)
        : undefined
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length
        budget -= chunk.length
        if (budget <= 0) response.pause()
        const text = tail + chunk.toString('latin1')
        if (text.includes('event: ready')) {
          clearInterval(refill)
          response.destroy()
          resolve({ readyMs: performance.now() - started, bytes })
        }
        tail = text.slice(-16)
      })
      response.on('error', () => {})
      response.on('close', () => {
        clearInterval(refill)
        reject(new Error(`the subscription ended before ready, after ${bytes} bytes`))
      })
    })
    req.on('error', reject)
    req.end()
  })
}

/** A subscriber that sends its request and never reads a byte. */
function stall(port: number, authorization: string): () => void {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  socket.on('connect', () => {
    socket.write(`GET /oauth/revocations HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: ${authorization}\r\naccept: text/event-stream\r\n\r\n`)
    socket.pause()
  })
  return () => socket.destroy()
}

async function cutOff(serviceUrl: string): Promise<number> {
  const metrics = await (await fetch(`${serviceUrl}/metrics`)).text()
  return Number(/^jwt_auth_revocation_feed_subscribers_cut_total (\d+)/m.exec(metrics)?.[1] ?? 0)
}

/** Peak RSS of `pid` while `work` runs, sampled every 100 ms. */
async function peakRss<T>(pid: number, work: Promise<T>): Promise<{ result: T; peakMb: number }> {
  let peakMb = rssMb(pid)
  let done = false
  const sampling = (async () => {
    while (!done) {
      peakMb = Math.max(peakMb, rssMb(pid))
      await sleep(100)
    }
  })()
  try {
    return { result: await work, peakMb }
  } finally {
    done = true
    await sampling
  }
}

export async function measureFeedStress(options: { serviceUrl: string; pid: number; redisUrl: string; keyPrefix: string; clientId: string; clientSecret: string }): Promise<FeedStressFigures> {
  const { serviceUrl, pid } = options
  const authorization = `Basic ${Buffer.from(`${options.clientId}:${options.clientSecret}`).toString('base64')}`
  await fill(options.redisUrl, options.keyPrefix, EVENTS)
  const single = await subscribe(serviceUrl, authorization)
  const ten = await Promise.all(Array.from({ length: 10 }, () => subscribe(serviceUrl, authorization)))
  await sleep(2_000)

  const slowBefore = rssMb(pid)
  const slow = await peakRss(pid, Promise.all(Array.from({ length: 10 }, () => subscribe(serviceUrl, authorization, SLOW_BYTES_PER_SECOND))))
  await sleep(2_000)

  const stalledBefore = rssMb(pid)
  const cutBefore = await cutOff(serviceUrl)
  const port = Number(new URL(serviceUrl).port)
  const sockets = Array.from({ length: 10 }, () => stall(port, authorization))
  const stalled = await peakRss(pid, sleep(10_000))
  const cut = (await cutOff(serviceUrl)) - cutBefore
  for (const close of sockets) close()

  return {
    events: EVENTS,
    snapshotMs: single.readyMs,
    snapshotMb: single.bytes / 1e6,
    tenAtOnceMs: Math.max(...ten.map((s) => s.readyMs)),
    slow: { readyMs: Math.max(...slow.result.map((s) => s.readyMs)), rssBeforeMb: slowBefore, rssPeakMb: slow.peakMb },
    stalled: { rssBeforeMb: stalledBefore, rssPeakMb: stalled.peakMb, cut }
  }
}
