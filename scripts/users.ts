/** `npm run users`: the command (scripts/users/command.ts) as a process. */
import { exitWith, processIo } from './cli.js'
import { runUsers } from './users/command.js'

exitWith(await runUsers(process.argv.slice(2), processIo()))
