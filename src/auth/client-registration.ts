/**
 * What a client's registration must satisfy beyond its shape, for the clients CLI and the admin API alike:
 * the service's settings (DEFAULT_AUDIENCE, production's https rule) and the contents of key sets.
 */
import { isResourceIndicator, type ClientCredential, type ClientRegistration } from '../schemas/clients.js'
import { keySetUriProblem, publicKeySetProblem } from './key-sets.js'

/** The registration field a problem is about; the CLI names its option, the admin API the JSON member. */
export type RegistrationField = 'audiences' | 'exchange_audiences' | 'jwks_uri' | 'jwks' | 'federated_issuer'

export interface RegistrationProblem {
  field: RegistrationField
  /** The value the problem is about (a URI), or undefined for a whole key set. */
  value: string | undefined
  message: string
}

export interface RegistrationSettings {
  defaultAudience: string
  production: boolean
}

/** Kubernetes gives every pod without an account of its own its namespace's `default` one. */
const DEFAULT_SERVICE_ACCOUNT = /^system:serviceaccount:[^:]+:default$/

/** A warning for a federated identity that every pod of a namespace shares, or undefined. */
export function sharedIdentityWarning(credential: ClientCredential | undefined): string | undefined {
  if (credential?.auth_method !== 'federated' || !DEFAULT_SERVICE_ACCOUNT.test(credential.federated_subject)) return undefined
  return `${credential.federated_subject} is a namespace's default service account: every pod in that namespace without an account of its own shares this identity. Give the workload its own ServiceAccount.`
}

/** The first thing wrong with a registration (or the changes to one), or undefined. */
export async function registrationProblem(changes: Partial<ClientRegistration>, settings: RegistrationSettings): Promise<RegistrationProblem | undefined> {
  for (const field of ['audiences', 'exchange_audiences'] as const) {
    for (const audience of changes[field] ?? []) {
      if (!isResourceIndicator(audience)) return { field, value: audience, message: 'is not an audience (an absolute URI without a fragment)' }
      if (audience === settings.defaultAudience) {
        const why = field === 'audiences' ? "a client's tokens need one of their own" : 'an exchanged token is addressed to a service'
        return { field, value: audience, message: `is DEFAULT_AUDIENCE, the user tokens' audience: ${why}` }
      }
    }
  }
  return credentialProblem(changes.credential, settings.production)
}

async function credentialProblem(credential: ClientCredential | undefined, production: boolean): Promise<RegistrationProblem | undefined> {
  if (credential === undefined || credential.auth_method === 'client_secret') return undefined
  if (credential.jwks_uri !== undefined) {
    const problem = keySetUriProblem(credential.jwks_uri, production)
    if (problem !== undefined) return { field: 'jwks_uri', value: credential.jwks_uri, message: problem }
  }
  if (credential.jwks !== undefined) {
    // Stored as JSON, which PostgreSQL refuses with a NUL in it.
    const problem = JSON.stringify(credential.jwks).includes('\\u0000') ? 'a key holds a NUL character' : await publicKeySetProblem(credential.jwks)
    if (problem !== undefined) return { field: 'jwks', value: undefined, message: problem }
  }
  if (credential.auth_method === 'federated' && credential.jwks === undefined && credential.jwks_uri === undefined) {
    const problem = keySetUriProblem(credential.federated_issuer, production)
    if (problem !== undefined) {
      return { field: 'federated_issuer', value: credential.federated_issuer, message: `its keys are discovered at the issuer's URL, which must be fetchable (${problem}); or give the keys or their URI` }
    }
  }
  return undefined
}
