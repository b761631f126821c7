/** /admin/users/{id or email}: the users CLI's operations (README, "Admin API"). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ServiceError } from '../../errors.js'
import { AccountParams, AccountView, DeletedAccount } from '../../schemas/admin.js'
import { ErrorResponse } from '../../schemas/common.js'

const security = [{ admin: [] }]
const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 503: ErrorResponse }

/** The account an operation returned, or 404 naming what was asked for. */
function found<T>(account: string, view: T | undefined): T {
  if (view === undefined) throw new ServiceError('NOT_FOUND', `no account ${account}`)
  return view
}

const adminUsers: FastifyPluginAsyncTypebox = async (fastify) => {
  const { accountAdmin } = fastify.auth

  fastify.get('/admin/users/:account', {
    config: { audit: 'users.show' },
    schema: { tags: ['users'], summary: 'The account (never its password hash): verified, disabled, dates', security, params: AccountParams, response: { 200: AccountView, ...errors } },
    handler: async (request) => found(request.params.account, await accountAdmin.show(request.params.account))
  })

  for (const operation of ['disable', 'enable'] as const) {
    fastify.post(`/admin/users/:account/${operation}`, {
      config: { audit: `users.${operation}` },
      schema: {
        tags: ['users'],
        summary: operation === 'disable' ? 'No more logins (403 ACCOUNT_DISABLED); every session ends at once' : 'Logins work again (the ended sessions stay ended)',
        security,
        params: AccountParams,
        response: { 200: AccountView, ...errors }
      },
      handler: async (request) => found(request.params.account, await accountAdmin[operation](request.params.account))
    })
  }

  fastify.delete('/admin/users/:account', {
    config: { audit: 'users.delete' },
    schema: { tags: ['users'], summary: 'Every session ends, then the account is deleted; the email may register again', security, params: AccountParams, response: { 200: DeletedAccount, ...errors } },
    handler: async (request) => {
      const account = found(request.params.account, await accountAdmin.delete(request.params.account))
      return { id: account.id, email: account.email, deleted: true as const }
    }
  })
}

export default adminUsers
