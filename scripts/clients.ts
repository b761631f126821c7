/** `npm run clients`: the process around the command (scripts/clients/command.ts), with .env and exit code. */
import { loadDotEnv } from '../src/config.js'
import { runClients } from './clients/command.js'

const code = await runClients(process.argv.slice(2), {
  environment: () => {
    loadDotEnv()
    return process.env
  },
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`)
})
// A failure exits at once, even if a store's client is still retrying a connection (stdout is synchronous here).
if (code !== 0) process.exit(code)
