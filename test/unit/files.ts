import { readdirSync, readFileSync } from 'node:fs'

/**
 * The test files that need no Redis, no PostgreSQL and no other program: `tap.exclude` in package.json, so that
 * tap does not start a process for each of them. They run instead in the shards beside this file, a few files
 * to a process: a test file's own work is a fraction of a second to a few seconds, while starting a process with
 * tap and tsx costs about four seconds of CPU, so one process per file spent most of the quick loop's time
 * starting up (README, "Tests"). `npm test` runs the shards with the rest; `npm run test:unit` runs only them.
 * One file still runs alone with `npx tap <file>`.
 */
export const UNIT_TEST_FILES: readonly string[] = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { tap: { exclude: string[] } }
).tap.exclude

/**
 * The shard files beside this one (`shard-1.ts` …). Enough of them that a shard on both store modes stays well
 * under tap's 60 s, and few enough that their start-up stays small; a shard is a single line.
 */
const SHARD_COUNT = readdirSync(new URL('.', import.meta.url)).filter((name) => /^shard-\d+\.ts$/.test(name)).length

/** Imports the shard's files, every SHARD_COUNTth of the list from the shard's number on; their tests join its run. */
export async function importShard(shardUrl: string): Promise<void> {
  const shard = Number(/shard-(\d+)\.ts$/.exec(shardUrl)?.[1])
  for (const [position, file] of UNIT_TEST_FILES.entries()) {
    if (position % SHARD_COUNT === shard - 1) await import(new URL(`../../${file}`, import.meta.url).href)
  }
}
