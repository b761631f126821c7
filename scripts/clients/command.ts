/**
 * `npm run clients`: service accounts, managed with the service's own settings; see USAGE.
 * `create` and `rotate-secret` print the secret once, as JSON; nothing else ever shows it or its hash.
 * `--audience`: a resource (RFC 8707) the client may ask tokens for; the first is its tokens' default. Never
 * DEFAULT_AUDIENCE, the user tokens' audience.
 * `--allow`: introspect or revoke tokens that are not the client's own, read the revocation feed.
 * `delete` and `rotate-secret` also refuse every token the client holds, at once.
 * stdout carries only JSON; the store used and every error go to stderr.
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ClientExistsError, TokensNotRevokedError } from '../../src/auth/clients.js'
import { openClientAdmin } from '../../src/auth/index.js'
import { ConfigError, loadConfig, type Config } from '../../src/config.js'
import {
  CLIENT_ID_PATTERN,
  isResourceIndicator,
  parseScopes,
  PRIVILEGES,
  SCOPE_TOKEN_PATTERN,
  type Client,
  type ClientRegistration,
  type Privilege
} from '../../src/schemas/clients.js'
import type { CommandIo } from '../cli.js'

const USAGE = `usage: npm run -s clients -- <command>
  create <client_id> [--scope "a b"] [--audience <uri>]... [--allow introspect|revoke|revocations]...
                                 a new client; prints its secret, once. Its tokens are for the
                                 first --audience unless a grant names another (resource)
  list                           every client (never a secret)
  show <client_id>               one client (never its secret)
  update <client_id> [--scope "a b"] [--audience <uri>]... [--allow <privilege>]...
                                 replaces the fields given (--audience '' or --allow '' for none)
  rotate-secret <client_id>      a new secret, printed once; the old one and every token issued stop working
  delete <client_id>             refuses every token of the client, then deletes it
  --help                         this text
Settings come from the environment and .env (DATABASE_URL, DATABASE_SCHEMA, DATA_DIR, REDIS_*).`

class UsageError extends Error {}
/** A client named on the command line does not exist (exit 2, as for other bad input). */
class NoClientError extends Error {}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  scope: { type: 'string' },
  audience: { type: 'string', multiple: true },
  allow: { type: 'string', multiple: true }
} as const

type Command =
  | { name: 'help' }
  | { name: 'list' }
  | { name: 'create'; clientId: string; registration: ClientRegistration }
  | { name: 'update'; clientId: string; changes: Partial<ClientRegistration> }
  | { name: 'show' | 'rotate-secret' | 'delete'; clientId: string }

function scopesOf(text: string): string[] {
  const scopes = parseScopes(text)
  const bad = scopes.find((scope) => !SCOPE_TOKEN_PATTERN.test(scope))
  if (bad !== undefined) throw new UsageError(`not a valid scope: ${JSON.stringify(bad)}`)
  return scopes
}

/** `''` stands for none, so that update can clear the list. */
function audiencesOf(values: string[]): string[] {
  const audiences = [...new Set(values.filter((value) => value !== ''))]
  const notUri = audiences.find((audience) => !isResourceIndicator(audience))
  if (notUri !== undefined) throw new UsageError(`not an audience (an absolute URI without a fragment): ${JSON.stringify(notUri)}`)
  return audiences
}

function privilegesOf(values: string[]): Privilege[] {
  const privileges = [...new Set(values.filter((value) => value !== ''))]
  const unknown = privileges.find((privilege) => !(PRIVILEGES as readonly string[]).includes(privilege))
  if (unknown !== undefined) throw new UsageError(`--allow takes ${PRIVILEGES.join(', ')}, not ${JSON.stringify(unknown)}`)
  return privileges as Privilege[]
}

/** The whole command line, checked before any setting is read or any store opened. */
function parseCommand(args: string[]): Command {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: OPTIONS })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  const { positionals, values } = parsed
  if (values.help === true) return { name: 'help' }
  const [name, clientId, ...extra] = positionals
  const fieldOptions = values.scope !== undefined || values.audience !== undefined || values.allow !== undefined
  if (name === 'list') {
    if (clientId !== undefined || fieldOptions) throw new UsageError('list takes no argument')
    return { name }
  }
  if (name !== 'create' && name !== 'update' && name !== 'show' && name !== 'rotate-secret' && name !== 'delete') {
    throw new UsageError(name === undefined ? 'no command' : `unknown command ${JSON.stringify(name)}`)
  }
  if (clientId === undefined || !CLIENT_ID_PATTERN.test(clientId)) {
    throw new UsageError(`${name} needs a client_id of letters, digits and . _ ~ - (at most 100)`)
  }
  if (extra.length > 0) throw new UsageError(`${name} takes one client_id, not also ${JSON.stringify(extra.join(' '))}`)
  if (name === 'create') {
    const registration = {
      scopes: scopesOf(values.scope ?? ''),
      audiences: audiencesOf(values.audience ?? []),
      privileges: privilegesOf(values.allow ?? [])
    }
    return { name, clientId, registration }
  }
  if (name === 'update') {
    if (!fieldOptions) throw new UsageError('update needs --scope, --audience or --allow')
    const changes: Partial<ClientRegistration> = {}
    if (values.scope !== undefined) changes.scopes = scopesOf(values.scope)
    if (values.audience !== undefined) changes.audiences = audiencesOf(values.audience)
    if (values.allow !== undefined) changes.privileges = privilegesOf(values.allow)
    return { name, clientId, changes }
  }
  if (fieldOptions) throw new UsageError(`${name} takes no --scope, --audience or --allow`)
  return { name, clientId }
}

/** The store the settings pick, named for the operator (never a password). */
function describeStore(config: Config): string {
  return config.DATABASE_URL === undefined ? `sqlite ${join(config.DATA_DIR, 'clients.db')}` : `postgresql schema ${config.DATABASE_SCHEMA}`
}

const shown = ({ client_id, scopes, audiences, privileges, created_at }: Client) => ({ client_id, scope: scopes.join(' '), audiences, privileges, created_at })

/** Runs one command; the result is the process's exit code: 0 done, 2 bad input or no such client, 1 anything else. */
export async function runClients(args: readonly string[], io: CommandIo): Promise<number> {
  let command: Command | undefined
  try {
    command = parseCommand([...args])
    await execute(command, io)
    return 0
  } catch (error) {
    io.err(failureMessage(error, command))
    return error instanceof UsageError || error instanceof NoClientError || error instanceof ClientExistsError ? 2 : 1
  }
}

async function execute(command: Command, io: CommandIo): Promise<void> {
  const print = (value: unknown): void => io.out(JSON.stringify(value))
  if (command.name === 'help') {
    io.out(USAGE)
    return
  }
  const config = loadConfig(io.environment())
  const audiences = command.name === 'create' ? command.registration.audiences : command.name === 'update' ? command.changes.audiences : undefined
  if (audiences?.includes(config.DEFAULT_AUDIENCE)) {
    throw new UsageError(`--audience ${config.DEFAULT_AUDIENCE} is DEFAULT_AUDIENCE, the user tokens' audience: a client's tokens need one of their own`)
  }
  io.err(`clients store: ${describeStore(config)}`)
  const admin = await openClientAdmin(config, { warn: () => {} })
  try {
    switch (command.name) {
      case 'create': {
        const { secret, client } = await admin.clients.create(command.clientId, command.registration)
        print({ client_id: client.client_id, client_secret: secret, scope: client.scopes.join(' '), audiences: client.audiences, privileges: client.privileges })
        return
      }
      case 'list':
        print((await admin.clients.list()).map(shown))
        return
      case 'show': {
        const client = await admin.clients.find(command.clientId)
        if (client === undefined) throw new NoClientError(`no client ${command.clientId}`)
        print(shown(client))
        return
      }
      case 'update': {
        const client = await admin.clients.update(command.clientId, command.changes)
        if (client === undefined) throw new NoClientError(`no client ${command.clientId}`)
        print(shown(client))
        return
      }
      case 'rotate-secret': {
        const rotated = await admin.clients.rotateSecret(command.clientId)
        if (rotated === undefined) throw new NoClientError(`no client ${command.clientId}`)
        print({ client_id: rotated.client.client_id, client_secret: rotated.secret })
        return
      }
      case 'delete': {
        if (!(await admin.clients.delete(command.clientId))) throw new NoClientError(`no client ${command.clientId}`)
        print({ client_id: command.clientId, deleted: true })
        return
      }
    }
  } finally {
    await admin.close()
  }
}

/** One message, never a stack trace; `command` is what ran, since a client id may well be "rotate-secret". */
function failureMessage(error: unknown, command: Command | undefined): string {
  if (error instanceof UsageError) return `${error.message}\n${USAGE}`
  if (error instanceof NoClientError || error instanceof ConfigError) return error.message
  if (error instanceof ClientExistsError) return 'a client with that id exists already'
  if (error instanceof TokensNotRevokedError) {
    const state = command?.name === 'rotate-secret' ? 'the old secret no longer works, but its tokens do' : 'the client is still there'
    return `${error.message}\n${state}: run the same command again once the revocation store (REDIS_*) answers`
  }
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}
