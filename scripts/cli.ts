/** What the CLIs (npm run keys, npm run clients) share: their input and output, injected so that tests run them in-process. */
import { loadDotEnv } from '../src/config.js'

export interface CommandIo {
  /** The directory relative paths start from. */
  cwd: string
  /** The settings, read only once the command line is known to be good (the process loads .env here). */
  environment: () => Record<string, string | undefined>
  /** What the command prints for programs: JSON, or its usage. */
  out: (text: string) => void
  /** What the operator reads: the store used, errors, usage after a mistake. */
  err: (text: string) => void
}

/** The process's own: its working directory, .env and environment, stdout and stderr. */
export function processIo(): CommandIo {
  return {
    cwd: process.cwd(),
    environment: () => {
      loadDotEnv()
      return process.env
    },
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`)
  }
}

/** Ends the process with the command's exit code; a failure at once, even if a store's client is still retrying a connection (stdout is synchronous here). */
export function exitWith(code: number): void {
  if (code !== 0) process.exit(code)
}
