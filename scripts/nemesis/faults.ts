import { Redis } from 'ioredis'
import type { Cluster } from './cluster.js'
import type { Fault } from './history.js'
import type { Random } from './random.js'

/**
 * The faults, drawn from the seed one after another, each healed before the next: a pause (SIGSTOP, as a
 * GC pause, CPU throttling or a VM stall would) or a kill and restart (SIGKILL) of Redis, of an instance, of
 * the instance whose HTTP feed a library reads, or of a library's process; and now and then a loss of all
 * of Redis' data (FLUSHALL), which the service must meet with a new generation.
 */
const KINDS: { kind: Fault['kind']; targets: string[]; weight: number }[] = [
  { kind: 'pause', targets: ['redis', 'A', 'B', 'C', 'L-redis', 'L-http'], weight: 6 },
  { kind: 'kill', targets: ['redis', 'A', 'B', 'C', 'L-redis', 'L-http'], weight: 3 },
  { kind: 'flush', targets: ['redis'], weight: 4 }
]

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** The verification targets a fault of each process can fool. */
const AFFECTED: Record<string, string[]> = {
  A: ['A /auth/verify', 'A /api/user', 'L-http'],
  B: ['B /auth/verify', 'B /oauth/introspect'],
  C: ['C /auth/verify'],
  'L-redis': ['L-redis'],
  'L-http': ['L-http'],
  redis: ['A /auth/verify', 'B /auth/verify', 'C /auth/verify', 'A /api/user', 'B /oauth/introspect', 'L-redis', 'L-http']
}

export class Nemesis {
  readonly faults: Fault[] = []
  private running = true

  /** `aim`: told which verification targets a fault hits, and until when, so that the load leans on them. */
  constructor(private readonly cluster: Cluster, private readonly random: Random, private readonly aim: (targets: string[], until: number) => void) {}

  stop(): void {
    this.running = false
  }

  async run(): Promise<void> {
    const weight = KINDS.reduce((sum, kind) => sum + kind.weight * kind.targets.length, 0)
    while (this.running) {
      // Now and then a quiet spell, in which everything must have recovered (the checker's fourth property).
      await sleep(this.random.next() < 0.25 ? this.random.between(4_000, 6_000) : this.random.between(300, 1_500))
      if (!this.running) break
      let roll = this.random.next() * weight
      const { kind, targets } = KINDS.find((candidate) => (roll -= candidate.weight * candidate.targets.length) < 0) ?? KINDS[0]!
      await this.inject(kind, this.random.pick(targets))
    }
  }

  private async inject(kind: Fault['kind'], target: string): Promise<void> {
    const process = this.cluster.processes.get(target)!
    const fault: Fault = { kind, target, startedAt: performance.now() }
    this.faults.push(fault)
    switch (kind) {
      case 'pause': {
        const pauseMs = this.random.between(200, 2_500)
        // Until a second after it wakes: what arrived meanwhile is answered then.
        this.aim(AFFECTED[target]!, performance.now() + pauseMs + 1_000)
        process.pause()
        await sleep(pauseMs)
        process.resume()
        break
      }
      case 'kill': {
        const downMs = this.random.between(200, 1_500)
        await process.kill()
        await sleep(downMs)
        await process.start()
        this.aim(AFFECTED[target]!, performance.now() + 1_000)
        break
      }
      case 'flush': {
        const redis = new Redis(this.cluster.redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 })
        redis.on('error', () => {})
        await redis.connect()
        await redis.flushall()
        redis.disconnect()
        this.aim(AFFECTED.redis!, performance.now() + 1_000)
        break
      }
    }
    fault.endedAt = performance.now()
  }
}
