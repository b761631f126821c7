/**
 * The processes a bench run starts and watches: the service, its peers (bare Fastify, oidc-provider) and,
 * for the durability figure, a redis-server of its own. What is read of them, from /proc: CPU time (user
 * + system, every thread) and resident memory.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100

/** CPU seconds a process has used so far, all its threads; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
  } catch {
    return 0
  }
}

export function rssMb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024
  } catch {
    return 0
  }
}

/** A Node process of the bench's: the service or a peer, on a free port, its RSS sampled every 250 ms. */
export class Target {
  private constructor(readonly name: string, readonly url: string, readonly child: ChildProcess, readonly env: Record<string, string>) {}
  peakRssMb = 0
  /** The peak since the last resetWindow(): which scenario drives the peak. */
  windowPeakRssMb = 0
  private sampler: NodeJS.Timeout | undefined

  resetWindow(): void {
    this.windowPeakRssMb = rssMb(this.pid)
  }

  get pid(): number {
    return this.child.pid!
  }

  /** Starts `script` (under dist/) and waits until `ready` answers true. */
  static async start(name: string, script: string, env: Record<string, string>, ready: (url: string) => Promise<boolean>, nodeArgs: string[] = []): Promise<Target> {
    const port = await freePort()
    const full = { PATH: process.env.PATH!, PORT: String(port), ISSUER: `http://127.0.0.1:${port}`, ...env }
    // stdout (the service's logs, a peer's `ready`) is thrown away, as a log shipper would take it; stderr shows.
    const child = spawn(process.execPath, [...nodeArgs, script], { env: full, stdio: ['ignore', 'ignore', 'inherit'] })
    const target = new Target(name, `http://127.0.0.1:${port}`, child, full)
    for (let i = 0; i < 150; i++) {
      if (child.exitCode !== null) break
      if (await ready(target.url).catch(() => false)) {
        target.sampler = setInterval(() => {
          const now = rssMb(target.pid)
          target.peakRssMb = Math.max(target.peakRssMb, now)
          target.windowPeakRssMb = Math.max(target.windowPeakRssMb, now)
        }, 250)
        return target
      }
      await sleep(100)
    }
    child.kill('SIGKILL')
    throw new Error(`${name} did not become ready`)
  }

  async stop(): Promise<void> {
    clearInterval(this.sampler)
    if (this.child.exitCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.kill('SIGTERM')
    await exited
  }
}

/** The pid of the redis-server at `url`, to read its CPU time. */
export async function redisPid(url: string): Promise<number> {
  const redis = new Redis(url)
  try {
    const info = await redis.info('server')
    return Number(/process_id:(\d+)/.exec(info)?.[1] ?? 0)
  } finally {
    redis.disconnect()
  }
}

/** A redis-server of the bench's own, on a free port and a scratch directory, with `args` (e.g. AOF settings). */
export async function withOwnRedis<T>(args: string[], work: (url: string) => Promise<T>): Promise<T> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'))
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...args], { stdio: 'ignore' })
  const url = `redis://127.0.0.1:${port}`
  try {
    const ready = async (): Promise<boolean> => {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      probe.on('error', () => {}) // not up yet: the ping below says so
      const answered = await probe.ping().then(() => true, () => false)
      probe.disconnect()
      return answered
    }
    for (let i = 0; i < 50 && !(await ready()); i++) await sleep(100)
    return await work(url)
  } finally {
    server.kill('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  }
}
