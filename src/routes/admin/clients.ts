/** /admin/clients: the clients CLI's operations, with its rules (README, "Admin API"). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ClientExistsError, NoSecretError, TokensNotRevokedError } from '../../auth/clients.js'
import { registrationProblem, sharedIdentityWarning } from '../../auth/client-registration.js'
import { ServiceError, StoreUnavailableError } from '../../errors.js'
import {
  ClientCreateBody,
  ClientIdParams,
  ClientUpdateBody,
  ClientView,
  ClientWithSecret,
  clientView,
  DeletedClient,
  RotatedSecret,
  type CredentialBody
} from '../../schemas/admin.js'
import { parseScopes, SCOPE_TOKEN_PATTERN, type ClientCredential, type ClientRegistration } from '../../schemas/clients.js'
import { ErrorResponse } from '../../schemas/common.js'

const security = [{ admin: [] }]
const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 503: ErrorResponse }

const invalid = (message: string): ServiceError => new ServiceError('VALIDATION_FAILED', message)

/** The credential a body describes, with the members each method takes and no others. */
function credentialOf(body: CredentialBody): ClientCredential {
  const keys = body.jwks_uri !== undefined ? { jwks_uri: body.jwks_uri } : body.jwks !== undefined ? { jwks: body.jwks } : {}
  if (body.jwks_uri !== undefined && body.jwks !== undefined) throw invalid('credential: jwks_uri or jwks, not both')
  const federatedMember = body.federated_issuer !== undefined || body.federated_subject !== undefined
  switch (body.auth_method) {
    case 'client_secret':
      if (federatedMember || body.jwks_uri !== undefined || body.jwks !== undefined) throw invalid('credential: client_secret takes no keys and no federated identity')
      return { auth_method: 'client_secret' }
    case 'private_key_jwt':
      if (federatedMember) throw invalid('credential: private_key_jwt takes no federated identity')
      if (body.jwks_uri === undefined && body.jwks === undefined) throw invalid('credential: private_key_jwt needs jwks_uri or jwks')
      return { auth_method: 'private_key_jwt', ...keys } as ClientCredential
    case 'federated':
      if (body.federated_issuer === undefined || body.federated_subject === undefined) throw invalid('credential: federated needs federated_issuer and federated_subject')
      return { auth_method: 'federated', federated_issuer: body.federated_issuer, federated_subject: body.federated_subject, ...keys } as ClientCredential
  }
}

/** The registration fields a body gives, checked against the settings as the CLI checks them. */
async function registrationOf(body: ClientUpdateBody, settings: { defaultAudience: string; production: boolean }): Promise<Partial<ClientRegistration>> {
  const changes: Partial<ClientRegistration> = {}
  if (body.scope !== undefined) {
    changes.scopes = parseScopes(body.scope)
    const bad = changes.scopes.find((scope) => !SCOPE_TOKEN_PATTERN.test(scope))
    if (bad !== undefined) throw invalid(`scope: ${JSON.stringify(bad.slice(0, 120))} is not a valid scope (RFC 6749 §3.3, at most 100 characters)`)
  }
  if (body.audiences !== undefined) changes.audiences = [...new Set(body.audiences)]
  if (body.privileges !== undefined) changes.privileges = [...new Set(body.privileges)]
  if (body.exchange_audiences !== undefined) changes.exchange_audiences = [...new Set(body.exchange_audiences)]
  if (body.credential !== undefined) changes.credential = credentialOf(body.credential)
  const problem = await registrationProblem(changes, settings)
  if (problem !== undefined) {
    const member = problem.field === 'audiences' || problem.field === 'exchange_audiences' ? problem.field : `credential.${problem.field}`
    throw invalid(`${member}${problem.value === undefined ? '' : ` ${problem.value}`}: ${problem.message}`)
  }
  return changes
}

/** The store's refusals as answers: the rest (a store down) is the error handler's 503. */
function translated(error: unknown): never {
  if (error instanceof ClientExistsError) throw new ServiceError('CLIENT_EXISTS')
  if (error instanceof NoSecretError) throw new ServiceError('CLIENT_HAS_NO_SECRET', `${error.message}: it has no secret to rotate (update its credential to client_secret to give it one)`)
  if (error instanceof TokensNotRevokedError) throw new StoreUnavailableError('revocation', error)
  throw error
}

const notFound = (clientId: string): ServiceError => new ServiceError('NOT_FOUND', `no client ${clientId}`)

const adminClients: FastifyPluginAsyncTypebox = async (fastify) => {
  const { clients } = fastify.auth
  const settings = { defaultAudience: fastify.config.DEFAULT_AUDIENCE, production: fastify.config.NODE_ENV === 'production' }

  fastify.get('/admin/clients', {
    config: { audit: 'clients.list' },
    schema: { tags: ['clients'], summary: 'Every client (never a secret)', security, response: { 200: Type.Object({ clients: Type.Array(ClientView) }), ...errors } },
    handler: async () => ({ clients: (await clients.list()).map(clientView) })
  })

  fastify.post('/admin/clients', {
    config: { audit: 'clients.create' },
    schema: {
      tags: ['clients'],
      summary: 'A new client; its secret, when it has one, is in this answer only',
      security,
      body: ClientCreateBody,
      response: { 201: ClientWithSecret, ...errors }
    },
    handler: async (request, reply) => {
      const { client_id: clientId, ...fields } = request.body
      const changes = await registrationOf(fields, settings)
      const registration: ClientRegistration = { scopes: [], audiences: [], privileges: [], exchange_audiences: [], ...changes }
      const { client, secret } = await clients.create(clientId, registration).catch(translated)
      const warning = sharedIdentityWarning(registration.credential)
      return reply.code(201).send({ ...clientView(client), ...(secret === undefined ? {} : { client_secret: secret }), ...(warning === undefined ? {} : { warnings: [warning] }) })
    }
  })

  fastify.get('/admin/clients/:client_id', {
    config: { audit: 'clients.show' },
    schema: { tags: ['clients'], summary: 'One client (never its secret)', security, params: ClientIdParams, response: { 200: ClientView, ...errors } },
    handler: async (request) => {
      const client = await clients.find(request.params.client_id)
      if (client === undefined) throw notFound(request.params.client_id)
      return clientView(client)
    }
  })

  fastify.patch('/admin/clients/:client_id', {
    config: { audit: 'clients.update' },
    schema: {
      tags: ['clients'],
      summary: 'Replaces the fields given; a credential replaces the old one and refuses every token issued',
      security,
      params: ClientIdParams,
      body: ClientUpdateBody,
      response: { 200: ClientWithSecret, ...errors }
    },
    handler: async (request) => {
      const changes = await registrationOf(request.body, settings)
      const updated = await clients.update(request.params.client_id, changes).catch(translated)
      if (updated === undefined) throw notFound(request.params.client_id)
      const warning = sharedIdentityWarning(changes.credential)
      return { ...clientView(updated.client), ...(updated.secret === undefined ? {} : { client_secret: updated.secret }), ...(warning === undefined ? {} : { warnings: [warning] }) }
    }
  })

  fastify.post('/admin/clients/:client_id/rotate-secret', {
    config: { audit: 'clients.rotate-secret' },
    schema: {
      tags: ['clients'],
      summary: 'A new secret, in this answer only; the old one and every token issued stop working at once',
      security,
      params: ClientIdParams,
      response: { 200: RotatedSecret, ...errors }
    },
    handler: async (request) => {
      const rotated = await clients.rotateSecret(request.params.client_id).catch(translated)
      if (rotated === undefined) throw notFound(request.params.client_id)
      return { client_id: rotated.client.client_id, client_secret: rotated.secret }
    }
  })

  fastify.delete('/admin/clients/:client_id', {
    config: { audit: 'clients.delete' },
    schema: { tags: ['clients'], summary: 'Refuses every token of the client, then deletes it', security, params: ClientIdParams, response: { 200: DeletedClient, ...errors } },
    handler: async (request) => {
      if (!(await clients.delete(request.params.client_id).catch(translated))) throw notFound(request.params.client_id)
      return { client_id: request.params.client_id, deleted: true as const }
    }
  })
}

export default adminClients
