import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sleep, type TestContext } from './helper.js'

/** The process as `npm start` runs it: the compiled server (`npm run -s build` first), with only environment variables. */
export const SERVER = join(import.meta.dirname, '..', 'dist', 'src', 'server.js')

export interface Started {
  child: ChildProcess
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[]
  /** The start-up line ("jwt-auth-service started"). */
  started: Record<string, unknown>
  /** Resolves with the exit code. */
  exited: Promise<number | null>
  /** What the process wrote to stderr so far (the plain lines, beside the JSON log on stdout). */
  stderr(): string
}

/**
 * Starts dist/src/server.js (or `server`, the same file elsewhere) with `env` (and a DATA_DIR of its own), and
 * waits for its start-up line; killed after the test.
 */
export async function startServer(t: TestContext, env: Record<string, string>, server = SERVER): Promise<Started> {
  const child = spawn(process.execPath, [server], {
    env: { PATH: process.env.PATH!, DATA_DIR: mkdtempSync(join(tmpdir(), 'server-test-')), ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  const logs: Record<string, unknown>[] = []
  let stderr = ''
  let buffered = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop()!
    for (const line of lines.filter(Boolean)) logs.push(JSON.parse(line) as Record<string, unknown>)
  })
  for (let waited = 0; waited < 20_000; waited += 50) {
    const started = logs.find((line) => line.msg === 'jwt-auth-service started')
    if (started !== undefined) return { child, logs, started, exited, stderr: () => stderr }
    if (child.exitCode !== null) break
    // Waits for a real process to log its start-up line.
    await sleep(50)
  }
  throw new Error(`the server did not start: ${stderr}`)
}

/** Runs dist/src/server.js with `env` to its end (a refused boot); asynchronous, so that several run at once. */
export function runServer(env: Record<string, string>): Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string; error?: Error }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SERVER], {
      env: { PATH: process.env.PATH!, DATA_DIR: mkdtempSync(join(tmpdir(), 'server-test-')), ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 20_000
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    let error: Error | undefined
    child.once('error', (failure) => (error = failure))
    child.once('close', (status, signal) => resolve({ status, signal, stderr, error }))
  })
}

/** A setting mistake: what it is, the settings that make it (built when its case runs), the line it must give. */
export type Refusal = [description: string, env: () => Promise<Record<string, string>>, message: RegExp]

/** Each mistake stops the server at boot with one line that names it, exit 1, and no password; two at a time. */
export function expectRefusals(t: TestContext, refusals: readonly Refusal[]): void {
  t.jobs = 2
  for (const [description, env, message] of refusals) {
    t.test(description, async (t) => {
      const result = await runServer(await env())
      t.equal(result.status, 1, `exit 1 (signal: ${result.signal}, error: ${result.error?.message})`)
      t.match(result.stderr, /^jwt-auth-service: [^\n]+\n$/, `one line: ${result.stderr}`)
      t.match(result.stderr, message)
      t.notMatch(result.stderr, /hunter2/, 'no password')
    })
  }
}
