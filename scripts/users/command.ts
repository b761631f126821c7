/**
 * `npm run users`: operators' commands on user accounts, by email, with the service's own settings; see USAGE.
 * `disable` and `delete` end every session of the account at once, everywhere (the revocation feed included).
 * stdout carries only JSON; the store used and every error go to stderr.
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { isEmail } from '../../src/auth/account-admin.js'
import { openAccountAdmin } from '../../src/auth/index.js'
import { ConfigError, loadConfig, type Config } from '../../src/config.js'
import { adminApi, RefusedError, RemoteError, type AdminApi } from '../admin-api.js'
import type { CommandIo } from '../cli.js'

const USAGE = `usage: npm run -s users -- <command> <email or id>
  show <email or id>      the account (never its password hash): verified, disabled, dates
  disable <email or id>   no more logins (403 ACCOUNT_DISABLED); every session ends at once
  enable <email or id>    logins work again (the ended sessions stay ended)
  delete <email or id>    every session ends, then the account is deleted; the email may register again
  --help                  this text
  --url <management URL> --token-file <path>
                          the same, through the service's admin API (MANAGEMENT_PORT with
                          ADMIN_TOKEN_FILE) rather than its stores: no settings are read here
An account is named by its email or by its id (a token's sub).
Without --url, settings come from the environment and .env (DATABASE_URL, DATABASE_SCHEMA, DATA_DIR, REDIS_*).`

const COMMANDS = ['show', 'disable', 'enable', 'delete'] as const
type Command = { name: 'help' } | { name: (typeof COMMANDS)[number]; account: string; target: { url: string; tokenFile: string } | undefined }

/** The stores' account ids are UUIDs. */
const ACCOUNT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

class UsageError extends Error {}
/** No account has the email named on the command line (exit 2, as for other bad input). */
class NoAccountError extends Error {}

/** The whole command line, checked before any setting is read or any store opened. */
function parseCommand(args: string[]): Command {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: { help: { type: 'boolean', short: 'h' }, url: { type: 'string' }, 'token-file': { type: 'string' } } })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  if (parsed.values.help === true) return { name: 'help' }
  const [name, account, ...extra] = parsed.positionals
  if (!(COMMANDS as readonly string[]).includes(name ?? '')) {
    throw new UsageError(name === undefined ? 'no command' : `unknown command ${JSON.stringify(name)}`)
  }
  const valid = account !== undefined && account.length <= 255 && (isEmail(account) ? /^[^\s@]+@[^\s@]+$/.test(account) : ACCOUNT_ID.test(account))
  if (!valid) throw new UsageError(`${name} needs an email address or an account id`)
  if (extra.length > 0) throw new UsageError(`${name} takes one email or id, not also ${JSON.stringify(extra.join(' '))}`)
  const { url, 'token-file': tokenFile } = parsed.values
  if ((url === undefined) !== (tokenFile === undefined)) throw new UsageError('--url and --token-file go together')
  return { name: name as (typeof COMMANDS)[number], account, target: url === undefined ? undefined : { url, tokenFile: tokenFile! } }
}

/** The store the settings pick, named for the operator (never a password). */
function describeStore(config: Config): string {
  return config.DATABASE_URL === undefined ? `sqlite ${join(config.DATA_DIR, 'users.db')}` : `postgresql schema ${config.DATABASE_SCHEMA}`
}

/** The command through the admin API: its answer is what the local command prints. */
async function remotely(name: (typeof COMMANDS)[number], account: string, api: AdminApi): Promise<unknown> {
  const path = `/admin/users/${encodeURIComponent(account)}`
  if (name === 'show') return api.call('GET', path)
  if (name === 'delete') return api.call('DELETE', path)
  return api.call('POST', `${path}/${name}`)
}

/** Runs one command; the result is the process's exit code: 0 done, 2 bad input or no such account, 1 anything else. */
export async function runUsers(args: readonly string[], io: CommandIo): Promise<number> {
  try {
    const command = parseCommand([...args])
    if (command.name === 'help') {
      io.out(USAGE)
      return 0
    }
    if (command.target !== undefined) {
      const api = adminApi(command.target.url, command.target.tokenFile, io.cwd, io.err)
      io.err(`users: the admin API at ${api.origin}`)
      io.out(JSON.stringify(await remotely(command.name, command.account, api)))
      return 0
    }
    const config = loadConfig(io.environment())
    io.err(`users store: ${describeStore(config)}`)
    const admin = await openAccountAdmin(config, { warn: () => {} })
    try {
      const account = await admin.accounts[command.name](command.account)
      if (account === undefined) throw new NoAccountError(`no account ${command.account}`)
      io.out(JSON.stringify(command.name === 'delete' ? { id: account.id, email: account.email, deleted: true } : account))
      return 0
    } finally {
      await admin.close()
    }
  } catch (error) {
    if (error instanceof UsageError) io.err(`${error.message}\n${USAGE}`)
    else if (error instanceof NoAccountError || error instanceof ConfigError || error instanceof RefusedError || error instanceof RemoteError) io.err(error.message)
    else io.err(`${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\nnothing is lost: run the same command again once the stores answer`)
    return error instanceof UsageError || error instanceof NoAccountError || error instanceof RefusedError ? 2 : 1
  }
}
