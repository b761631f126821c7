import fp from 'fastify-plugin'
import { createClientStore, createRevocationStore, createUserStore } from '../stores/index.js'
import type { ClientStore } from '../stores/clients/index.js'
import type { RevocationStore } from '../stores/revocations/index.js'
import type { UserStore } from '../stores/users/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    users: UserStore
    clients: ClientStore
    revocations: RevocationStore
  }
}

/** Picks the backends from the settings; the rest of the code sees only the repository interfaces. */
export default fp(
  async function stores(fastify) {
    const { config } = fastify
    const users = await createUserStore(config)
    const clients = await createClientStore(config)
    const revocations = await createRevocationStore(config, fastify.log)
    fastify.decorate('users', users)
    fastify.decorate('clients', clients)
    fastify.decorate('revocations', revocations)
    fastify.addHook('onClose', async () => {
      await Promise.allSettled([users.close(), clients.close(), revocations.close()])
    })
  },
  { name: 'stores', dependencies: ['config'] }
)
