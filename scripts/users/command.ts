/**
 * `npm run users`: operators' commands on user accounts, by email, with the service's own settings; see USAGE.
 * `disable` and `delete` end every session of the account at once, everywhere (the revocation feed included).
 * stdout carries only JSON; the store used and every error go to stderr.
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { openAccountAdmin } from '../../src/auth/index.js'
import { ConfigError, loadConfig, type Config } from '../../src/config.js'
import type { CommandIo } from '../cli.js'

const USAGE = `usage: npm run -s users -- <command> <email>
  show <email>      the account (never its password hash): verified, disabled, dates
  disable <email>   no more logins (403 ACCOUNT_DISABLED); every session ends at once
  enable <email>    logins work again (the ended sessions stay ended)
  delete <email>    every session ends, then the account is deleted; the email may register again
  --help            this text
Settings come from the environment and .env (DATABASE_URL, DATABASE_SCHEMA, DATA_DIR, REDIS_*).`

const COMMANDS = ['show', 'disable', 'enable', 'delete'] as const
type Command = { name: 'help' } | { name: (typeof COMMANDS)[number]; email: string }

class UsageError extends Error {}
/** No account has the email named on the command line (exit 2, as for other bad input). */
class NoAccountError extends Error {}

/** The whole command line, checked before any setting is read or any store opened. */
function parseCommand(args: string[]): Command {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: { help: { type: 'boolean', short: 'h' } } })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  if (parsed.values.help === true) return { name: 'help' }
  const [name, email, ...extra] = parsed.positionals
  if (!(COMMANDS as readonly string[]).includes(name ?? '')) {
    throw new UsageError(name === undefined ? 'no command' : `unknown command ${JSON.stringify(name)}`)
  }
  if (email === undefined || !/^[^\s@]+@[^\s@]+$/.test(email) || email.length > 255) throw new UsageError(`${name} needs an email address`)
  if (extra.length > 0) throw new UsageError(`${name} takes one email, not also ${JSON.stringify(extra.join(' '))}`)
  return { name: name as (typeof COMMANDS)[number], email }
}

/** The store the settings pick, named for the operator (never a password). */
function describeStore(config: Config): string {
  return config.DATABASE_URL === undefined ? `sqlite ${join(config.DATA_DIR, 'users.db')}` : `postgresql schema ${config.DATABASE_SCHEMA}`
}

/** Runs one command; the result is the process's exit code: 0 done, 2 bad input or no such account, 1 anything else. */
export async function runUsers(args: readonly string[], io: CommandIo): Promise<number> {
  try {
    const command = parseCommand([...args])
    if (command.name === 'help') {
      io.out(USAGE)
      return 0
    }
    const config = loadConfig(io.environment())
    io.err(`users store: ${describeStore(config)}`)
    const admin = await openAccountAdmin(config, { warn: () => {} })
    try {
      const account = await admin.accounts[command.name](command.email)
      if (account === undefined) throw new NoAccountError(`no account ${command.email}`)
      io.out(JSON.stringify(command.name === 'delete' ? { id: account.id, email: account.email, deleted: true } : account))
      return 0
    } finally {
      await admin.close()
    }
  } catch (error) {
    if (error instanceof UsageError) io.err(`${error.message}\n${USAGE}`)
    else if (error instanceof NoAccountError || error instanceof ConfigError) io.err(error.message)
    else io.err(`${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\nnothing is lost: run the same command again once the stores answer`)
    return error instanceof UsageError || error instanceof NoAccountError ? 2 : 1
  }
}
