import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { createServer } from 'node:net'
import { freePort, until, type TestContext } from './helper.js'

/**
 * Redis Cluster and Sentinel groups of the test's own, from the `redis-server` binary on free
 * loopback ports, so that a test can kill a master and watch the failover. Never the shared Redis.
 */
abstract class RedisGroup {
  protected readonly processes = new Map<number, ChildProcess>()
  protected readonly dir = mkdtempSync(join(tmpdir(), 'redis-group-'))

  protected constructor(t: TestContext) {
    t.teardown(() => this.stopAll())
  }

  protected spawnServer(port: number, args: string[]): void {
    const child = spawn('redis-server', [...args, '--port', String(port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    this.processes.set(port, child)
  }

  async kill(port: number): Promise<void> {
    const child = this.processes.get(port)
    // A process ended by a signal has a signalCode and no exitCode.
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.processes.keys()].map((port) => this.kill(port)))
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** Runs one command against a node; undefined while it does not answer. */
export async function ask(port: number, ...command: (string | number)[]): Promise<unknown> {
  return askWith(port, undefined, ...command)
}

/** ask(), authenticated with `password` when there is one. */
export async function askWith(port: number, password: string | undefined, ...command: (string | number)[]): Promise<unknown> {
  const client = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  client.on('error', () => {})
  try {
    await client.connect()
    return await client.call(String(command[0]), ...command.slice(1).map(String))
  } catch {
    return undefined
  } finally {
    client.disconnect()
  }
}


/** Whether a listener can bind the loopback port now. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/**
 * A free port for a cluster node: a node also listens on its port + 10000 (the cluster bus), so both must be
 * free, and the bus must be a port at all. Without this, a node whose bus port another test held never started.
 */
async function freeClusterPort(taken: readonly number[]): Promise<number> {
  for (;;) {
    const port = await freePort()
    if (port + 10_000 <= 65_535 && !taken.includes(port) && !taken.includes(port + 10_000) && (await canBind(port + 10_000))) return port
  }
}

/** 3 masters with one replica each. */
export class OwnRedisCluster extends RedisGroup {
  ports: number[] = []

  static async start(t: TestContext): Promise<OwnRedisCluster> {
    const cluster = new OwnRedisCluster(t)
    for (let i = 0; i < 6; i++) cluster.ports.push(await freeClusterPort(cluster.ports))
    for (const port of cluster.ports) {
      cluster.spawnServer(port, ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '1000'])
    }
    for (const port of cluster.ports) await until(`node ${port}`, async () => (await ask(port, 'PING')) === 'PONG')
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...cluster.ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'], { encoding: 'utf8' })
    if (create.status !== 0) throw new Error(`redis-cli --cluster create: ${create.stdout}${create.stderr}`)
    await until('a healthy cluster with a replica per master', async () => {
      for (const port of cluster.ports) {
        if (!String(await ask(port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return false
      }
      const masters = await cluster.masters()
      for (const port of masters.values()) {
        if (!/slave0:.*state=online/.test(String(await ask(port, 'INFO', 'replication')))) return false
      }
      return masters.size === 3
    })
    return cluster
  }

  get nodes(): string {
    return this.ports.map((port) => `127.0.0.1:${port}`).join(',')
  }

  /** Node id -> port of every master that a live node reports. */
  async masters(): Promise<Map<string, number>> {
    for (const port of this.ports) {
      const nodes = await ask(port, 'CLUSTER', 'NODES')
      if (typeof nodes !== 'string') continue
      const masters = new Map<string, number>()
      for (const line of nodes.trim().split('\n')) {
        const [id, address, flags] = line.split(' ')
        if (flags!.includes('master') && !flags!.includes('fail')) masters.set(id!, Number(address!.split(':')[1]!.split('@')[0]))
      }
      return masters
    }
    return new Map()
  }

  /** The port of the master serving the slot of `key`. */
  async masterOf(key: string): Promise<number> {
    const slot = Number(await ask(this.ports[0]!, 'CLUSTER', 'KEYSLOT', key))
    const slots = (await ask(this.ports[0]!, 'CLUSTER', 'SLOTS')) as [number, number, [string, number]][]
    const range = slots.find(([from, to]) => from <= slot && slot <= to)!
    return range[2][1]
  }
}

/**
 * A master, one replica and three sentinels watching them (quorum 2). `passwords`: the data nodes' (requirepass,
 * masterauth, and the sentinels' auth-pass), and the sentinels' own (requirepass, which they also use with each other).
 */
export class OwnSentinelGroup extends RedisGroup {
  static readonly NAME = 'jwtmaster'
  master = 0
  replica = 0
  sentinels: number[] = []
  private passwords: { data?: string; sentinel?: string } = {}

  static async start(t: TestContext, passwords: { data?: string; sentinel?: string } = {}): Promise<OwnSentinelGroup> {
    const group = new OwnSentinelGroup(t)
    group.passwords = passwords
    const auth = passwords.data === undefined ? [] : ['--requirepass', passwords.data, '--masterauth', passwords.data]
    group.master = await freePort()
    group.replica = await freePort()
    group.spawnServer(group.master, auth)
    await until('master', async () => (await askWith(group.master, passwords.data, 'PING')) === 'PONG')
    group.spawnServer(group.replica, [...auth, '--replicaof', '127.0.0.1', String(group.master)])
    await until('replica in sync', async () => /slave0:.*state=online/.test(String(await askWith(group.master, passwords.data, 'INFO', 'replication'))))
    for (let i = 0; i < 3; i++) {
      const port = await freePort()
      const file = join(group.dir, `sentinel-${port}.conf`)
      writeFileSync(file, [
        `sentinel monitor ${OwnSentinelGroup.NAME} 127.0.0.1 ${group.master} 2`,
        `sentinel down-after-milliseconds ${OwnSentinelGroup.NAME} 1000`,
        `sentinel failover-timeout ${OwnSentinelGroup.NAME} 3000`,
        ...(passwords.data === undefined ? [] : [`sentinel auth-pass ${OwnSentinelGroup.NAME} ${passwords.data}`]),
        ...(passwords.sentinel === undefined ? [] : [`requirepass ${passwords.sentinel}`]),
        ''
      ].join('\n'))
      group.spawnServer(port, [file, '--sentinel'])
      group.sentinels.push(port)
    }
    await until('sentinels that know each other and the replica', async () => {
      for (const port of group.sentinels) {
        const info = await askWith(port, passwords.sentinel, 'SENTINEL', 'MASTER', OwnSentinelGroup.NAME)
        if (!Array.isArray(info)) return false
        const fields = Object.fromEntries(info.reduce<[string, string][]>((pairs, v, i) => (i % 2 === 0 ? [...pairs, [String(v), String(info[i + 1])]] : pairs), []))
        if (fields['num-other-sentinels'] !== '2' || fields['num-slaves'] !== '1') return false
      }
      return true
    })
    return group
  }

  get sentinelList(): string {
    return this.sentinels.map((port) => `127.0.0.1:${port}`).join(',')
  }

  /** The master's port as the sentinels report it. */
  async currentMaster(): Promise<number | undefined> {
    const address = await askWith(this.sentinels[0]!, this.passwords.sentinel, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', OwnSentinelGroup.NAME)
    return Array.isArray(address) ? Number(address[1]) : undefined
  }
}
