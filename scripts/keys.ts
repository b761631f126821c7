/** `npm run keys`: the process around the command (scripts/keys/command.ts), with .env and exit code. */
import { loadDotEnv } from '../src/config.js'
import { runKeys } from './keys/command.js'

process.exitCode = runKeys(process.argv.slice(2), {
  cwd: process.cwd(),
  environment: () => {
    loadDotEnv()
    return process.env
  },
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`)
})
