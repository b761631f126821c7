import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { check, worstAcceptance } from './nemesis/checker.js'
import { startCluster } from './nemesis/cluster.js'
import { Nemesis } from './nemesis/faults.js'
import type { History } from './nemesis/history.js'
import { Random } from './nemesis/random.js'
import { Workload } from './nemesis/workload.js'

const USAGE = `Usage: npm run nemesis -- [--duration <seconds>] [--seed <n>] [--history <file>]

Fault injection under load, in the manner of Jepsen: starts a Redis of its own (AOF), three instances of the
service (two with REVOCATION_CHECK=replicated, one strict) on it and on a PostgreSQL schema of its own, and the
verifier library over the Redis feed and over the HTTP feed, each in a process of its own. While a load of
registrations, logins, refreshes, logouts, password changes, client grants, revocations and secret rotations
runs, with verifications everywhere, it pauses (SIGSTOP), kills and restarts Redis, the instances and the
libraries, and flushes Redis, at moments drawn from the seed. Then a checker reads the recorded history: no
revoked token accepted later than its bound after the answer of the call that revoked it (at once by the strict
instance, REVOCATION_MAX_LAG_MS by the others), no good token refused with 401, every 503 with Retry-After.

  --duration <s>    how long the load and the faults run (default 60)
  --seed <n>        the seed of the faults and of the load's choices (default: the time)
  --history <file>  where to save the history (JSON; default: a file in the temporary directory)

PostgreSQL: NEMESIS_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test); redis-server must be on PATH.
The last line: nemesis: <faults> faults, <requests> requests, <violations> violations. Exit 1 on a violation.`

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { duration: { type: 'string' }, seed: { type: 'string' }, history: { type: 'string' }, help: { type: 'boolean' } }, strict: true })
  if (values.help === true) {
    console.log(USAGE)
    return 0
  }
  const durationS = Number(values.duration ?? 60)
  const seed = Number(values.seed ?? Date.now() % 1_000_000)
  if (!(durationS > 0) || !Number.isInteger(seed)) {
    console.error(`nemesis: --duration must be a positive number of seconds and --seed an integer\n\n${USAGE}`)
    return 2
  }
  const random = new Random(seed)
  const wallToMonotonic = performance.now() - Date.now()
  const cluster = await startCluster(process.env.NEMESIS_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', (line) => console.log(line))
  const workload = new Workload(cluster, random)
  const nemesis = new Nemesis(cluster, new Random(seed + 1), (targets, until) => workload.aim(targets, until))
  let history: History
  try {
    await workload.prepare(12, 4)
    console.log(`nemesis: seed ${seed}, ${durationS} s of load and faults`)
    const load = workload.run(24)
    const faults = nemesis.run()
    await new Promise((resolve) => setTimeout(resolve, durationS * 1000))
    nemesis.stop()
    await faults
    workload.stop()
    await load
  } finally {
    history = { seed, durationS, targets: cluster.targets, ops: workload.ops, tokens: workload.tokens, faults: nemesis.faults, wallToMonotonic }
    await cluster.close()
  }

  const file = values.history ?? join(tmpdir(), `nemesis-${seed}-${Date.now()}.json`)
  writeFileSync(file, JSON.stringify(history))
  const violations = check(history)
  const kinds = new Map<string, number>()
  for (const fault of history.faults) kinds.set(`${fault.kind} ${fault.target}`, (kinds.get(`${fault.kind} ${fault.target}`) ?? 0) + 1)
  console.log(`nemesis: faults by kind: ${[...kinds].map(([kind, count]) => `${kind} ×${count}`).join(', ')}`)
  const worst = worstAcceptance(history)
  console.log(`nemesis: the latest acceptance of a revoked token, after the revocation's answer: ${[...worst].map(([target, ms]) => `${target} ${Number.isFinite(ms) ? `${ms.toFixed(0)} ms` : 'none'}`).join(', ')}`)
  console.log(`nemesis: history saved to ${file}`)
  if (violations.length > 0) {
    const first = violations[0]!
    console.log(`nemesis: VIOLATION (${first.property}): ${first.detail}; the shortest excerpt:\n  ${first.excerpt.join('\n  ')}`)
    const byProperty = new Map<string, number>()
    for (const violation of violations) byProperty.set(violation.property, (byProperty.get(violation.property) ?? 0) + 1)
    console.log(`nemesis: violations by property: ${[...byProperty].map(([property, count]) => `${property} ×${count}`).join(', ')}`)
  }
  const requests = history.ops.filter((op) => op.target !== 'admin').length
  console.log(`nemesis: ${history.faults.length} faults, ${requests} requests, ${violations.length} violations`)
  return violations.length > 0 ? 1 : 0
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error)
    process.exit(2)
  }
)
