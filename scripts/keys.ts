/** `npm run keys`: the command (scripts/keys/command.ts) as a process. */
import { exitWith, processIo } from './cli.js'
import { runKeys } from './keys/command.js'

exitWith(runKeys(process.argv.slice(2), processIo()))
