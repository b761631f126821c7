/**
 * Service accounts, managed with the service's own settings (environment and .env):
 *   npm run clients -- create <client_id> [--scope "<space-separated scopes>"]
 *                     [--audience <absolute URI>]... [--allow introspect|revoke|revocations]...
 *   npm run clients -- list
 *   npm run clients -- delete <client_id>
 * `create` prints { client_id, client_secret, scope, audiences, privileges } as JSON: the only time the
 * secret is shown. `--audience`: a resource (RFC 8707) the client may ask tokens for, besides
 * DEFAULT_AUDIENCE. `--allow`: introspect or revoke tokens that are not the client's own, read the
 * revocation feed.
 * `delete` also refuses every token the client holds, at once.
 */
import { parseArgs } from 'node:util'
import { ClientExistsError } from '../src/auth/clients.js'
import { openClientAdmin } from '../src/auth/index.js'
import { ConfigError, loadConfig, loadDotEnv } from '../src/config.js'
import { CLIENT_ID_PATTERN, isResourceIndicator, parseScopes, PRIVILEGES, SCOPE_TOKEN_PATTERN, type Privilege } from '../src/schemas/clients.js'

class UsageError extends Error {}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      scope: { type: 'string', default: '' },
      audience: { type: 'string', multiple: true, default: [] },
      allow: { type: 'string', multiple: true, default: [] }
    }
  })
  const [command, clientId] = positionals
  loadDotEnv()
  const config = loadConfig()
  const admin = await openClientAdmin(config, { warn: () => {} })
  try {
    switch (command) {
      case 'create': {
        if (clientId === undefined || !CLIENT_ID_PATTERN.test(clientId)) throw new UsageError('create needs a client_id of letters, digits and . _ ~ - (at most 100)')
        const scopes = parseScopes(values.scope)
        const bad = scopes.find((scope) => !SCOPE_TOKEN_PATTERN.test(scope))
        if (bad !== undefined) throw new UsageError(`not a valid scope: ${JSON.stringify(bad)}`)
        const audiences = [...new Set(values.audience)]
        const notUri = audiences.find((audience) => !isResourceIndicator(audience))
        if (notUri !== undefined) throw new UsageError(`not an audience (an absolute URI without a fragment): ${JSON.stringify(notUri)}`)
        const privileges = [...new Set(values.allow)]
        const unknown = privileges.find((privilege) => !(PRIVILEGES as readonly string[]).includes(privilege))
        if (unknown !== undefined) throw new UsageError(`--allow takes ${PRIVILEGES.join(', ')}, not ${JSON.stringify(unknown)}`)
        const { secret, client } = await admin.clients.create(clientId, { scopes, audiences, privileges: privileges as Privilege[] })
        console.log(JSON.stringify({ client_id: clientId, client_secret: secret, scope: scopes.join(' '), audiences: client.audiences, privileges: client.privileges }))
        return
      }
      case 'list': {
        const all = await admin.clients.list()
        console.log(
          JSON.stringify(all.map(({ client_id, scopes, audiences, privileges, created_at }) => ({ client_id, scope: scopes.join(' '), audiences, privileges, created_at })))
        )
        return
      }
      case 'delete': {
        if (clientId === undefined) throw new UsageError('delete needs a client_id')
        if (!(await admin.clients.delete(clientId))) throw new UsageError(`no client ${clientId}`)
        console.log(JSON.stringify({ client_id: clientId, deleted: true }))
        return
      }
      default:
        throw new UsageError(
          'usage: npm run clients -- create <client_id> [--scope "a b"] [--audience <uri>]... [--allow introspect|revoke|revocations]... | list | delete <client_id>'
        )
    }
  } finally {
    await admin.close()
  }
}

main().catch((error: unknown) => {
  if (error instanceof UsageError || error instanceof ConfigError) console.error(error.message)
  else if (error instanceof ClientExistsError) console.error('a client with that id exists already')
  else console.error(error)
  process.exit(error instanceof UsageError || error instanceof ClientExistsError ? 2 : 1)
})
