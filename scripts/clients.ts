/** `npm run clients`: the command (scripts/clients/command.ts) as a process. */
import { exitWith, processIo } from './cli.js'
import { runClients } from './clients/command.js'

exitWith(await runClients(process.argv.slice(2), processIo()))
