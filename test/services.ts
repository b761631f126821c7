import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer as createHttpServer } from 'node:http'
import { createServer, Socket, type Server } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { buildApp, freePort, sleep, storeEnv, type TestContext } from './helper.js'

/**
 * A redis-server of the test's own, on a free loopback port, that the test may stop, flush or
 * restart: never the machine's shared one. No persistence, so a restart comes back empty.
 */
export class OwnRedis {
  private process: ChildProcess | undefined
  /** Its working directory: a replica writes the RDB of its first sync there. */
  private readonly dir = mkdtempSync(join(tmpdir(), 'own-redis-'))
  private constructor(readonly port: number, private readonly args: string[]) {}

  /** `args`: more redis-server options, e.g. `['--replicaof', '127.0.0.1', port]`. */
  static async start(t: TestContext, args: string[] = []): Promise<OwnRedis> {
    const redis = new OwnRedis(await freePort(), args)
    t.teardown(async () => {
      await redis.stop()
      rmSync(redis.dir, { recursive: true, force: true })
    })
    await redis.start()
    return redis
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  async start(): Promise<void> {
    this.process = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, ...this.args], { stdio: 'ignore' })
    for (let attempt = 0; attempt < 100; attempt++) {
      const client = new Redis(this.url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
      client.on('error', () => {})
      try {
        await client.connect()
        await client.ping()
        return
      } catch {
        // Waits for the redis-server process to accept connections.
        await sleep(50)
      } finally {
        client.disconnect()
      }
    }
    throw new Error(`redis-server did not start on port ${this.port}`)
  }

  /**
   * Freezes the server (SIGSTOP): its connections stay open and accept bytes, but nothing is answered
   * until `resume` (SIGCONT), which then runs every command that arrived meanwhile, late.
   */
  pause(): void {
    this.process?.kill('SIGSTOP')
  }

  resume(): void {
    this.process?.kill('SIGCONT')
  }

  async stop(): Promise<void> {
    const child = this.process
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
    this.process = undefined
  }
}

/**
 * A TCP proxy in front of a real server, which the test can cut and restore: from the app's side,
 * the server goes down and comes back, while the shared server itself is never touched.
 */
export class TcpProxy {
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  private constructor(readonly port: number, private readonly target: { host: string; port: number }) {}

  static async start(t: TestContext, target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(await freePort(), target)
    t.teardown(() => proxy.cut())
    await proxy.restore()
    return proxy
  }

  async restore(): Promise<void> {
    const server = createServer((client) => {
      const upstream = new Socket()
      upstream.connect(this.target.port, this.target.host)
      for (const socket of [client, upstream]) {
        this.sockets.add(socket)
        socket.on('error', () => socket.destroy())
        socket.on('close', () => this.sockets.delete(socket))
      }
      client.pipe(upstream).pipe(client)
      client.on('close', () => upstream.destroy())
      upstream.on('close', () => client.destroy())
    })
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve))
    this.server = server
  }

  /** Closes the port and every open connection. */
  async cut(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    const server = this.server
    this.server = undefined
    if (server !== undefined) await new Promise((resolve) => server.close(resolve))
  }
}

/**
 * What a gateway test puts behind its gateway: the service (Redis and PostgreSQL) on `authPort`, and on
 * `apiPort` an API that echoes what the gateway told it about the caller (the X-Auth-* headers); both stop
 * after the test. `gatewayPort` is free for the gateway itself.
 */
export async function gatewayBackends(t: TestContext): Promise<{ app: FastifyInstance; authPort: number; apiPort: number; gatewayPort: number }> {
  // The gateway is the service's only peer here: it may tell what the client's request was (DPoP at /auth/verify).
  // DPoP server nonces on, so that the gateway's handling of DPoP-Nonce is tested too; bearer tokens never meet them.
  const app = await buildApp(t, await storeEnv(t, 'redis-postgres', { TRUST_PROXY: 'loopback', DPOP_NONCE: 'true' }))
  const [authPort, apiPort, gatewayPort] = [await freePort(), await freePort(), await freePort()]
  await app.listen({ port: authPort, host: '127.0.0.1' })
  const api = createHttpServer((request, response) => {
    response.setHeader('content-type', 'application/json')
    const { headers } = request
    response.end(JSON.stringify({ path: request.url, subject: headers['x-auth-subject'], session: headers['x-auth-session'], client: headers['x-auth-client'], scope: headers['x-auth-scope'], actor: headers['x-auth-actor'], keyThumbprint: headers['x-auth-key-thumbprint'] }))
  })
  await new Promise<void>((resolve) => api.listen(apiPort, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => api.close(resolve)))
  return { app, authPort, apiPort, gatewayPort }
}
