import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'tap'
import { POSTGRES_URL } from '../helper.js'

/**
 * A short, seeded run of `npm run nemesis`: pauses, kills and restarts of Redis, the instances and the
 * libraries, and a loss of Redis' data, under load; the checker finds no violation. (The checker's own
 * power: nemesis-checker.test.ts; a long run: the README.)
 */
const NEMESIS = join(import.meta.dirname, '..', '..', 'dist', 'scripts', 'nemesis.js')

test('npm run nemesis: 30 s of faults under load, no violation', async (t) => {
  const run = spawnSync(process.execPath, [NEMESIS, '--duration', '30', '--seed', '20261204'], {
    env: { ...process.env, NEMESIS_DATABASE_URL: POSTGRES_URL },
    encoding: 'utf8',
    timeout: 55_000
  })
  const lines = run.stdout.trim().split('\n')
  const last = lines.at(-1) ?? ''
  const summary = /^nemesis: (\d+) faults, (\d+) requests, (\d+) violations$/.exec(last)
  t.ok(summary !== null, `the last line says what ran: ${last}${run.stderr === '' ? '' : `\n${run.stderr.slice(-2000)}`}`)
  const [faults, requests, violations] = (summary?.slice(1) ?? []).map(Number) as [number, number, number]
  t.ok(faults >= 5, `${faults} faults injected`)
  t.ok(requests >= 2_000, `${requests} requests`)
  t.equal(violations, 0, lines.filter((line) => line.includes('VIOLATION') || line.startsWith('  ')).join('\n') || 'no violation')
  t.equal(run.status, 0, 'exit 0')
})

test('npm run nemesis: usage', async (t) => {
  const help = spawnSync(process.execPath, [NEMESIS, '--help'], { encoding: 'utf8' })
  t.equal(help.status, 0)
  t.match(help.stdout, /--duration <s>[\s\S]*--seed <n>/)
  const bad = spawnSync(process.execPath, [NEMESIS, '--duration', 'soon'], { encoding: 'utf8' })
  t.equal(bad.status, 2, 'a usage error exits 2')
  t.match(bad.stderr, /--duration must be a positive number/)
})
