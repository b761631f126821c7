import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, sep } from 'node:path'
import { Redis } from 'ioredis'
import { imageRuntime } from '../image-runtime.js'

/**
 * Processes the nemesis (and the tests of pauses) run, each of which can be paused (SIGSTOP: a GC pause,
 * CPU throttling, a VM stall; its connections stay open and what arrives meanwhile is answered late),
 * killed (SIGKILL) and started again with the same settings.
 */
/** The build (npm run build): this file runs from it, or from the sources under tsx (the tests). */
const DIST = import.meta.dirname.split(sep).includes('dist') ? join(import.meta.dirname, '..', '..') : join(import.meta.dirname, '..', '..', 'dist')
const SERVER = join(DIST, 'src', 'server.js')
const VERIFIER_HOST = join(DIST, 'scripts', 'nemesis', 'verifier-host.js')

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export abstract class Managed {
  protected child: ChildProcess | undefined
  paused = false
  /** What the process wrote on stderr lately (for a failure's message). */
  protected stderr = ''

  constructor(readonly name: string) {}

  protected abstract spawn(): ChildProcess
  /** Resolves once the process serves. */
  protected abstract ready(child: ChildProcess): Promise<void>

  get pid(): number | undefined {
    return this.child?.pid
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  async start(): Promise<void> {
    const child = this.spawn()
    this.child = child
    this.paused = false
    child.stderr?.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-4000)))
    const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`${this.name} exited (${code}) at start: ${this.stderr}`))))
    await Promise.race([this.ready(child), exited])
  }

  pause(): void {
    if (!this.running) return
    this.child!.kill('SIGSTOP')
    this.paused = true
  }

  resume(): void {
    if (!this.running) return
    this.child!.kill('SIGCONT')
    this.paused = false
  }

  /** SIGKILL, and waits for the exit. */
  async kill(): Promise<void> {
    const child = this.child
    if (child === undefined || !this.running) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    if (this.paused) child.kill('SIGCONT')
    child.kill('SIGKILL')
    await exited
    this.paused = false
  }

  async restart(): Promise<void> {
    await this.kill()
    await this.start()
  }

  /** SIGTERM, then SIGKILL after a while. */
  async stop(): Promise<void> {
    const child = this.child
    if (child === undefined || !this.running) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    if (this.paused) child.kill('SIGCONT')
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000)
    await exited
    clearTimeout(timer)
  }
}

/** Waits for a line of the child's stdout that `match` accepts. */
function lineOf(child: ChildProcess, match: (line: string) => boolean): Promise<string> {
  return new Promise((resolve) => {
    let buffered = ''
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop()!
      const found = lines.find(match)
      if (found !== undefined) {
        child.stdout!.off('data', onData)
        // Keep draining, so that a chatty child never blocks on a full pipe.
        child.stdout!.resume()
        resolve(found)
      }
    }
    child.stdout!.on('data', onData)
  })
}

/** A redis-server of its own: AOF with fsync on every write (nothing acknowledged is lost to a kill), or no persistence. */
export class RedisServer extends Managed {
  readonly dir = mkdtempSync(join(tmpdir(), 'nemesis-redis-'))

  constructor(readonly port: number, readonly persistence: 'aof' | 'none') {
    super('redis')
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  protected spawn(): ChildProcess {
    const persistence = this.persistence === 'aof' ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']
    return spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--dir', this.dir, ...persistence], { stdio: ['ignore', 'ignore', 'pipe'] })
  }

  protected async ready(): Promise<void> {
    for (let attempt = 0; attempt < 200; attempt++) {
      const client = new Redis(this.url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
      client.on('error', () => {})
      try {
        await client.connect()
        // Loading the AOF answers LOADING until done.
        await client.ping()
        return
      } catch {
        await sleep(25)
      } finally {
        client.disconnect()
      }
    }
    throw new Error(`redis-server did not start on port ${this.port}`)
  }

  /** Kills it and removes its files. */
  async remove(): Promise<void> {
    await this.kill()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** The service, as `npm start` runs it (dist/src/server.js), on a port of its own. */
export class ServiceProcess extends Managed {
  readonly dataDir = mkdtempSync(join(tmpdir(), 'nemesis-service-'))

  constructor(name: string, readonly port: number, private readonly env: Record<string, string>) {
    super(name)
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  protected spawn(): ChildProcess {
    // As the image runs it (its Node flags and memory settings), so that what is measured here is what a pod does.
    const { nodeArgs, memoryEnv } = imageRuntime()
    const env = { PATH: process.env.PATH!, DATA_DIR: this.dataDir, HOST: '127.0.0.1', PORT: String(this.port), SHUTDOWN_DRAIN_SECONDS: '0', ...memoryEnv, ...this.env }
    return spawn(process.execPath, [...nodeArgs, SERVER], { env, stdio: ['ignore', 'ignore', 'pipe'] })
  }

  /** Whatever its LOG_LEVEL: once it answers. */
  protected async ready(): Promise<void> {
    for (let attempt = 0; attempt < 600; attempt++) {
      const live = await fetch(`${this.url}/health/live`).then((response) => response.ok, () => false)
      if (live) return
      await sleep(25)
    }
    throw new Error(`${this.name} did not answer on ${this.url}: ${this.stderr}`)
  }

  async remove(): Promise<void> {
    await this.kill()
    rmSync(this.dataDir, { recursive: true, force: true })
  }
}

/** The verifier library in a process of its own (verifier-host.ts). */
export class VerifierHost extends Managed {
  port = 0

  constructor(name: string, private readonly env: Record<string, string>) {
    super(name)
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  protected spawn(): ChildProcess {
    return spawn(process.execPath, [VERIFIER_HOST], { env: { PATH: process.env.PATH!, PORT: this.port === 0 ? '0' : String(this.port), ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  }

  protected async ready(child: ChildProcess): Promise<void> {
    // The same port again after a restart, so that callers need not know.
    const line = await lineOf(child, (text) => text.startsWith('{"port":'))
    this.port = (JSON.parse(line) as { port: number }).port
  }
}
