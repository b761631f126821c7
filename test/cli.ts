import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import type { CommandIo } from '../scripts/cli.js'

export interface CommandResult {
  /** The exit code. */
  status: number | null
  stdout: string
  stderr: string
}

/** Runs a CLI's command in-process, in `cwd` with only the settings `env`, and captures what it prints. */
export async function runCommand(run: (args: readonly string[], io: CommandIo) => number | Promise<number>, env: Record<string, string>, args: readonly string[], cwd = process.cwd()): Promise<CommandResult> {
  let stdout = ''
  let stderr = ''
  const status = await run(args, { cwd, environment: () => env, out: (text) => (stdout += `${text}\n`), err: (text) => (stderr += `${text}\n`) })
  return { status, stdout, stderr }
}

/**
 * Runs the compiled CLI (`npm run -s build` first) as `npm run <name>` does, with only PATH and `env`: for what
 * only the process shows (exit codes, a process that ends).
 */
export function spawnCommand(name: 'keys' | 'clients' | 'users', env: Record<string, string>, args: readonly string[], cwd = process.cwd()): CommandResult {
  const cli = join(import.meta.dirname, '..', 'dist', 'scripts', `${name}.js`)
  const result = spawnSync(process.execPath, [cli, ...args], { cwd, env: { PATH: process.env.PATH!, ...env }, encoding: 'utf8', timeout: 30_000 })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}
