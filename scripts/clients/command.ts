/**
 * `npm run clients`: service accounts, managed with the service's own settings; see USAGE.
 * `create` and `rotate-secret` print the secret once, as JSON; nothing else ever shows it or its hash.
 * A client may have no secret: `--jwks-uri`/`--jwks-file` register its public keys (private_key_jwt), and
 * `--federated-*` trust another issuer's token for it (a Kubernetes service account, a SPIFFE ID).
 * `--audience`: a resource (RFC 8707) the client may ask tokens for; the first is its tokens' default. Never
 * DEFAULT_AUDIENCE, the user tokens' audience.
 * `--allow`: introspect or revoke tokens that are not the client's own, read the revocation feed, exchange
 * tokens (RFC 8693) for one of its `--exchange-audience`s.
 * `delete` and `rotate-secret` also refuse every token the client holds, at once.
 * stdout carries only JSON; the store used and every error go to stderr.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { registrationProblem, sharedIdentityWarning, type RegistrationProblem } from '../../src/auth/client-registration.js'
import { ClientExistsError, NoSecretError, TokensNotRevokedError } from '../../src/auth/clients.js'
import { openClientAdmin } from '../../src/auth/index.js'
import { ConfigError, loadConfig, type Config } from '../../src/config.js'
import { clientView, type ClientView } from '../../src/schemas/admin.js'
import {
  CLIENT_ID_PATTERN,
  isResourceIndicator,
  parseScopes,
  PRIVILEGES,
  SCOPE_TOKEN_PATTERN,
  type ClientCredential,
  type ClientRegistration,
  type JsonWebKeySet,
  type KeySource,
  type Privilege
} from '../../src/schemas/clients.js'
import { adminApi, RefusedError, RemoteError, type AdminApi } from '../admin-api.js'
import type { CommandIo } from '../cli.js'

const USAGE = `usage: npm run -s clients -- <command>
  create <client_id> [--scope "a b"] [--audience <uri>]... [--allow introspect|revoke|revocations|exchange]...
         [--exchange-audience <uri>]... [<credential>]
                                 a new client. Its tokens are for the first --audience unless a grant
                                 names another (resource). Without a credential option it gets a
                                 secret, printed once (client_secret_basic, client_secret_post).
                                 --allow exchange: it may trade a token it was sent (RFC 8693 token
                                 exchange) for one addressed to an --exchange-audience
  list                           every client (never a secret)
  show <client_id>               one client (never its secret), auth_method included
  update <client_id> [--scope "a b"] [--audience <uri>]... [--allow <privilege>]... [--exchange-audience <uri>]...
         [<credential> | --secret]
                                 replaces the fields given (--audience '', --allow '' or
                                 --exchange-audience '' for none).
                                 A new credential, or --secret (a new secret, printed once), replaces
                                 the old one at once and refuses every token issued
  rotate-secret <client_id>      a new secret, printed once; the old one and every token issued stop
                                 working (a client without a secret is refused)
  delete <client_id>             refuses every token of the client, then deletes it
  --help                         this text
  --url <management URL> --token-file <path>
                                 the same, through the service's admin API (MANAGEMENT_PORT with
                                 ADMIN_TOKEN_FILE) rather than its stores: no settings are read here
<credential>, for a client without a secret:
  --jwks-uri <url> | --jwks-file <path>
                                 private_key_jwt (RFC 7523): the client signs an assertion with its own
                                 key (ES256, EdDSA, RS256, PS256); these are its public keys
  --federated-issuer <iss> --federated-subject <sub> [--federated-jwks-uri <url> | --federated-jwks-file <path>]
                                 the workload's token from another issuer is its credential: a
                                 Kubernetes projected service-account token (sub
                                 system:serviceaccount:<namespace>:<name>, aud = ISSUER) or a SPIFFE
                                 JWT-SVID (sub spiffe://<trust-domain>/<path>). Keys from the given URI
                                 or file, else from <iss>/.well-known/openid-configuration
Key URIs are https (plain http only to loopback, and never with NODE_ENV=production).
Without --url, settings come from the environment and .env (DATABASE_URL, DATABASE_SCHEMA, DATA_DIR, REDIS_*, ISSUER).`

class UsageError extends Error {}
/** A client named on the command line does not exist (exit 2, as for other bad input). */
class NoClientError extends Error {}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  scope: { type: 'string' },
  audience: { type: 'string', multiple: true },
  allow: { type: 'string', multiple: true },
  'exchange-audience': { type: 'string', multiple: true },
  secret: { type: 'boolean' },
  'jwks-uri': { type: 'string' },
  'jwks-file': { type: 'string' },
  'federated-issuer': { type: 'string' },
  'federated-subject': { type: 'string' },
  'federated-jwks-uri': { type: 'string' },
  'federated-jwks-file': { type: 'string' },
  url: { type: 'string' },
  'token-file': { type: 'string' }
} as const

type Values = ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; strict: true; options: typeof OPTIONS }>>['values']

const CREDENTIAL_OPTIONS = ['secret', 'jwks-uri', 'jwks-file', 'federated-issuer', 'federated-subject', 'federated-jwks-uri', 'federated-jwks-file'] as const

type Command =
  | { name: 'help' }
  | { name: 'list' }
  | { name: 'create'; clientId: string; registration: ClientRegistration }
  | { name: 'update'; clientId: string; changes: Partial<ClientRegistration> & { credential?: ClientCredential } }
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

/** A JWK Set read from a file; its keys are checked in `checkCredential`. */
function keySetFile(path: string): JsonWebKeySet {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
  }
  try {
    return JSON.parse(text) as JsonWebKeySet
  } catch {
    throw new UsageError(`${path} is not JSON (a JWK Set: { "keys": [ ... ] })`)
  }
}

function keySource(uri: string | undefined, file: string | undefined, prefix: string): KeySource {
  if (uri !== undefined && file !== undefined) throw new UsageError(`--${prefix}jwks-uri or --${prefix}jwks-file, not both`)
  if (uri !== undefined) return { jwks_uri: uri }
  return file === undefined ? {} : { jwks: keySetFile(file) }
}

/** The credential the options describe; undefined when they name none. */
function credentialOf(values: Values): ClientCredential | undefined {
  const named = CREDENTIAL_OPTIONS.filter((option) => values[option] !== undefined)
  if (named.length === 0) return undefined
  const federated = named.some((option) => option.startsWith('federated-'))
  const privateKey = values['jwks-uri'] !== undefined || values['jwks-file'] !== undefined
  if ([federated, privateKey, values.secret === true].filter(Boolean).length > 1) {
    throw new UsageError('one credential: --secret, --jwks-uri/--jwks-file, or --federated-*')
  }
  if (values.secret === true) return { auth_method: 'client_secret' }
  if (privateKey) {
    const keys = keySource(values['jwks-uri'], values['jwks-file'], '')
    return { auth_method: 'private_key_jwt', ...keys } as ClientCredential
  }
  const issuer = values['federated-issuer']
  const subject = values['federated-subject']
  if (issuer === undefined || subject === undefined || issuer === '' || subject === '') {
    throw new UsageError('a federated client needs both --federated-issuer and --federated-subject')
  }
  const keys = keySource(values['federated-jwks-uri'], values['federated-jwks-file'], 'federated-')
  return { auth_method: 'federated', federated_issuer: issuer, federated_subject: subject, ...keys } as ClientCredential
}

/** Where the command runs: the stores the settings name, or the admin API at `url`. */
type Target = { url: string; tokenFile: string } | undefined

/** The whole command line, checked before any setting is read or any store opened. */
function parseCommandLine(args: string[]): { command: Command; target: Target } {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: OPTIONS })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  const command = parseCommand(parsed)
  const { url, 'token-file': tokenFile } = parsed.values
  if (command.name === 'help' || (url === undefined && tokenFile === undefined)) return { command, target: undefined }
  if (url === undefined || tokenFile === undefined) throw new UsageError('--url and --token-file go together')
  if ('clientId' in command && /^\.+$/.test(command.clientId)) throw new UsageError(`${command.name}: a client_id of dots only cannot be named in the admin API's URLs`)
  return { command, target: { url, tokenFile } }
}

function parseCommand({ positionals, values }: { positionals: string[]; values: Values }): Command {
  if (values.help === true) return { name: 'help' }
  const [name, clientId, ...extra] = positionals
  const fieldOptions = values.scope !== undefined || values.audience !== undefined || values.allow !== undefined || values['exchange-audience'] !== undefined
  const credentialNamed = CREDENTIAL_OPTIONS.some((option) => values[option] !== undefined)
  if (name === 'list') {
    if (clientId !== undefined || fieldOptions || credentialNamed) throw new UsageError('list takes no argument')
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
    if (values.secret === true) throw new UsageError('create gives a secret unless a credential option names another method: --secret is for update')
    const registration: ClientRegistration = {
      scopes: scopesOf(values.scope ?? ''),
      audiences: audiencesOf(values.audience ?? []),
      privileges: privilegesOf(values.allow ?? []),
      exchange_audiences: audiencesOf(values['exchange-audience'] ?? [])
    }
    const credential = credentialOf(values)
    if (credential !== undefined) registration.credential = credential
    return { name, clientId, registration }
  }
  if (name === 'update') {
    if (!fieldOptions && !credentialNamed) throw new UsageError('update needs --scope, --audience, --allow, --exchange-audience, a credential option or --secret')
    const changes: Partial<ClientRegistration> = {}
    if (values.scope !== undefined) changes.scopes = scopesOf(values.scope)
    if (values.audience !== undefined) changes.audiences = audiencesOf(values.audience)
    if (values.allow !== undefined) changes.privileges = privilegesOf(values.allow)
    if (values['exchange-audience'] !== undefined) changes.exchange_audiences = audiencesOf(values['exchange-audience'])
    const credential = credentialOf(values)
    if (credential !== undefined) changes.credential = credential
    return { name, clientId, changes }
  }
  if (fieldOptions || credentialNamed) throw new UsageError(`${name} takes no --scope, --audience, --allow, --exchange-audience or credential option`)
  return { name, clientId }
}

/** The store the settings pick, named for the operator (never a password). */
function describeStore(config: Config): string {
  return config.DATABASE_URL === undefined ? `sqlite ${join(config.DATA_DIR, 'clients.db')}` : `postgresql schema ${config.DATABASE_SCHEMA}`
}

/** The option a registration problem is about, as the operator typed it. */
function optionOf(problem: RegistrationProblem, credential: ClientCredential | undefined): string {
  const federated = credential?.auth_method === 'federated' ? 'federated-' : ''
  const option = { audiences: '--audience', exchange_audiences: '--exchange-audience', jwks_uri: `--${federated}jwks-uri`, jwks: `--${federated}jwks-file`, federated_issuer: '--federated-issuer' }[problem.field]
  const message = problem.field === 'federated_issuer' ? problem.message.replace('the keys or their URI', '--federated-jwks-uri or --federated-jwks-file') : problem.message
  return `${option}${problem.value === undefined ? '' : ` ${problem.value}`}${problem.field === 'audiences' || problem.field === 'exchange_audiences' ? ' ' : ': '}${message}`
}

/** Runs one command; the result is the process's exit code: 0 done, 2 bad input or no such client, 1 anything else. */
export async function runClients(args: readonly string[], io: CommandIo): Promise<number> {
  let command: Command | undefined
  try {
    const parsed = parseCommandLine([...args])
    command = parsed.command
    if (command.name === 'help') io.out(USAGE)
    else if (parsed.target === undefined) await execute(command, io)
    else await executeRemotely(command, adminApi(parsed.target.url, parsed.target.tokenFile, io.cwd, io.err), io)
    return 0
  } catch (error) {
    io.err(failureMessage(error, command))
    const badInput = [UsageError, NoClientError, ClientExistsError, NoSecretError, RefusedError].some((type) => error instanceof type)
    return badInput ? 2 : 1
  }
}

type StoreCommand = Exclude<Command, { name: 'help' }>

const creation = (command: StoreCommand): ClientCredential | undefined =>
  command.name === 'create' ? command.registration.credential : command.name === 'update' ? command.changes.credential : undefined

/** What `create` and `update` print: the client, and its secret when this is the one time it is shown. */
const withSecret = (view: ClientView, secret: string | undefined) => (secret === undefined ? view : { ...view, client_secret: secret })

/** With the service's own settings and stores. */
async function execute(command: StoreCommand, io: CommandIo): Promise<void> {
  const print = (value: unknown): void => io.out(JSON.stringify(value))
  const config = loadConfig(io.environment())
  const changes = command.name === 'create' ? command.registration : command.name === 'update' ? command.changes : {}
  const problem = await registrationProblem(changes, { defaultAudience: config.DEFAULT_AUDIENCE, production: config.NODE_ENV === 'production' })
  if (problem !== undefined) throw new UsageError(optionOf(problem, creation(command)))
  const warning = sharedIdentityWarning(creation(command))
  if (warning !== undefined) io.err(`warning: ${warning}`)
  io.err(`clients store: ${describeStore(config)}`)
  const admin = await openClientAdmin(config, { warn: () => {} })
  try {
    switch (command.name) {
      case 'create': {
        const { secret, client } = await admin.clients.create(command.clientId, command.registration)
        print(withSecret(clientView(client), secret))
        return
      }
      case 'list':
        print((await admin.clients.list()).map(clientView))
        return
      case 'show': {
        const client = await admin.clients.find(command.clientId)
        if (client === undefined) throw new NoClientError(`no client ${command.clientId}`)
        print(clientView(client))
        return
      }
      case 'update': {
        const updated = await admin.clients.update(command.clientId, command.changes)
        if (updated === undefined) throw new NoClientError(`no client ${command.clientId}`)
        print(withSecret(clientView(updated.client), updated.secret))
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

/** The admin API's body for the fields a command gives (the CLI's names are the API's, but for scope). */
function bodyOf(changes: Partial<ClientRegistration>): Record<string, unknown> {
  const { scopes, credential, ...rest } = changes
  return { ...rest, ...(scopes === undefined ? {} : { scope: scopes.join(' ') }), ...(credential === undefined ? {} : { credential }) }
}

/** Through the admin API: the same output, and the same exit codes for the same refusals. */
async function executeRemotely(command: StoreCommand, api: AdminApi, io: CommandIo): Promise<void> {
  const print = (value: unknown): void => io.out(JSON.stringify(value))
  const path = command.name === 'list' ? '/admin/clients' : `/admin/clients/${encodeURIComponent(command.clientId)}`
  io.err(`clients: the admin API at ${api.origin}`)
  const answer = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', to: string, body?: unknown) => {
    try {
      return (await api.call(method, to, body)) as Record<string, unknown>
    } catch (error) {
      if (error instanceof RefusedError && error.status === 404) throw new NoClientError(error.message)
      throw error
    }
  }
  /** The warnings are the operator's (stderr), as in the local command; the rest is printed. */
  const printed = ({ warnings, ...rest }: Record<string, unknown>): void => {
    for (const warning of (warnings as string[] | undefined) ?? []) io.err(`warning: ${warning}`)
    print(rest)
  }
  switch (command.name) {
    case 'list':
      print((await answer('GET', path)).clients)
      return
    case 'create':
      printed(await answer('POST', '/admin/clients', { client_id: command.clientId, ...bodyOf(command.registration) }))
      return
    case 'show':
      print(await answer('GET', path))
      return
    case 'update':
      printed(await answer('PATCH', path, bodyOf(command.changes)))
      return
    case 'rotate-secret':
      print(await answer('POST', `${path}/rotate-secret`))
      return
    case 'delete':
      print(await answer('DELETE', path))
  }
}

/** One message, never a stack trace; `command` is what ran, since a client id may well be "rotate-secret". */
function failureMessage(error: unknown, command: Command | undefined): string {
  if (error instanceof UsageError) return `${error.message}\n${USAGE}`
  if (error instanceof NoClientError || error instanceof ConfigError || error instanceof RefusedError || error instanceof RemoteError) return error.message
  if (error instanceof NoSecretError) return `${error.message}: it has no secret to rotate (update --secret gives it one)`
  if (error instanceof ClientExistsError) return 'a client with that id exists already, or one trusts that federated issuer and subject'
  if (error instanceof TokensNotRevokedError) {
    const state = command?.name === 'rotate-secret' ? 'the old secret no longer works, but its tokens do' : 'the client is still there'
    return `${error.message}\n${state}: run the same command again once the revocation store (REDIS_*) answers`
  }
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}
