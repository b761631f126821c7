import { isIP } from 'node:net'
import { importJWK, type JWK } from 'jose'
import { PRIVATE_JWK_MEMBERS } from '@jwt-auth-service/verifier/feed'
import { JsonWebKeySet } from '../schemas/clients.js'
import { Value } from 'typebox/value'
import { ASSERTION_ALGORITHMS } from './client-assertions.js'
import type { Clock } from './clock.js'

/**
 * The public keys of clients and of federated issuers, fetched from their JWKS URIs (RFC 7517 §5) and
 * kept in memory. A fetch is bounded (FETCH_TIMEOUT_MS, MAX_KEY_SET_BYTES), follows no redirect, and
 * reaches plain http only on loopback outside production: an operator-registered URI must not turn the
 * service into a way to probe the network behind it.
 */
export interface KeySets {
  /**
   * The set at `uri`. Cached for MAX_AGE_MS; `refresh` (a key the cached set lacks) fetches again, at
   * most once per REFETCH_COOLDOWN_MS, so that tokens with made-up `kid`s cannot hammer the URI.
   * Throws KeySetError when there is no set to answer with.
   */
  at(uri: string, refresh?: boolean): Promise<JsonWebKeySet>
  /** OpenID Connect Discovery 1.0 §4: the `jwks_uri` in `<issuer>/.well-known/openid-configuration`, cached alike. */
  discoveredUri(issuer: string): Promise<string>
}

export class KeySetError extends Error {
  override name = 'KeySetError'
}

export const FETCH_TIMEOUT_MS = 3000
export const MAX_KEY_SET_BYTES = 64 * 1024
const MAX_AGE_MS = 10 * 60_000
const REFETCH_COOLDOWN_MS = 30_000
const MAX_ENTRIES = 1000

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]'])
const isLoopback = (hostname: string): boolean =>
  LOOPBACK_NAMES.has(hostname) || hostname.endsWith('.localhost') || (isIP(hostname) === 4 && hostname.startsWith('127.'))

/** Why the service may not fetch keys from `uri`, or undefined when it may. */
export function keySetUriProblem(uri: string, production: boolean): string | undefined {
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    return 'not an absolute URL'
  }
  if (url.username !== '' || url.password !== '') return 'no credentials in the URL'
  if (url.hash !== '') return 'no fragment'
  if (url.protocol === 'https:') return undefined
  if (url.protocol !== 'http:') return 'https only'
  if (production) return 'https only in production'
  return isLoopback(url.hostname) ? undefined : 'plain http only to a loopback address (https elsewhere)'
}

const ASYMMETRIC_TYPES = new Set(['EC', 'OKP', 'RSA'])
/** What a key without `alg` is imported for, to check that it imports. */
const DEFAULT_ALGORITHMS: Record<string, string> = { EC: 'ES256', OKP: 'EdDSA', RSA: 'RS256' }

/**
 * Why `value` is not a set of public keys a client may register (one or more asymmetric keys, none with a
 * private part, each importable), or undefined. A private key registered here would sit in the database and
 * in `clients show`; a symmetric one would make the server able to forge the client's assertions.
 */
export async function publicKeySetProblem(value: unknown): Promise<string | undefined> {
  if (!Value.Check(JsonWebKeySet, value)) return 'not a JWK Set ({ "keys": [ ... ] })'
  if (value.keys.length === 0) return 'the set has no key'
  for (const [index, key] of value.keys.entries()) {
    const name = typeof key.kid === 'string' ? `key ${JSON.stringify(key.kid)}` : `key ${index}`
    if (typeof key.kty !== 'string' || !ASYMMETRIC_TYPES.has(key.kty)) return `${name}: kty must be EC, OKP or RSA (public keys only)`
    const secret = PRIVATE_JWK_MEMBERS.find((member) => member in key)
    if (secret !== undefined) return `${name} is private (it has "${secret}"): register the public half only`
    const alg = typeof key.alg === 'string' ? key.alg : DEFAULT_ALGORITHMS[key.kty]!
    if (!ASSERTION_ALGORITHMS.includes(alg)) return `${name}: alg ${alg} is not one of ${ASSERTION_ALGORITHMS.join(', ')}`
    try {
      await importJWK(key as JWK, alg)
    } catch (error) {
      return `${name} cannot be imported: ${(error as Error).message}`
    }
  }
  return undefined
}

/** GETs a JSON document within the bounds above. */
async function fetchJson(uri: string, production: boolean): Promise<unknown> {
  const problem = keySetUriProblem(uri, production)
  if (problem !== undefined) throw new KeySetError(`${uri}: ${problem}`)
  let response: Response
  try {
    response = await fetch(uri, { redirect: 'manual', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers: { accept: 'application/json' } })
  } catch (error) {
    throw new KeySetError(`${uri}: ${(error as Error).name === 'TimeoutError' ? `no answer within ${FETCH_TIMEOUT_MS} ms` : 'unreachable'}`)
  }
  if (response.status !== 200) {
    await response.body?.cancel()
    throw new KeySetError(`${uri}: answered ${response.status}${response.status >= 300 && response.status < 400 ? ' (redirects are not followed)' : ''}`)
  }
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of response.body ?? []) {
    size += (chunk as Uint8Array).byteLength
    if (size > MAX_KEY_SET_BYTES) throw new KeySetError(`${uri}: larger than ${MAX_KEY_SET_BYTES} bytes`)
    chunks.push(chunk as Uint8Array)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new KeySetError(`${uri}: not JSON`)
  }
}

interface Entry<T> {
  value: T | undefined
  /** Why the last fetch failed, while there is no value to answer with. */
  error: unknown
  fetchedAt: number
  pending: Promise<T> | undefined
}

/** `clock`: the service's, so that a test moves the cache's ages with every other decision. */
export function createKeySets(options: { production: boolean; clock: Clock }): KeySets {
  const { production, clock } = options

  function cached<T>(read: (uri: string) => Promise<T>): (uri: string, refresh?: boolean) => Promise<T> {
    const entries = new Map<string, Entry<T>>()
    return async (uri, refresh = false) => {
      const now = clock.now()
      let entry = entries.get(uri)
      if (entry !== undefined && entry.pending === undefined) {
        // A failed fetch waits out the cooldown too, so that a dead URI is not asked on every request.
        const age = now - entry.fetchedAt
        if (age < (refresh || entry.value === undefined ? REFETCH_COOLDOWN_MS : MAX_AGE_MS)) {
          if (entry.value === undefined) throw entry.error
          return entry.value
        }
      }
      if (entry === undefined) {
        if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!)
        entry = { value: undefined, error: undefined, fetchedAt: now, pending: undefined }
        entries.set(uri, entry)
      }
      const current = entry
      current.pending ??= read(uri).then(
        (value) => {
          current.value = value
          return value
        },
        (error: unknown) => {
          // A set fetched before keeps answering: stale, not wrong (its keys were the client's).
          current.error = error
          if (current.value === undefined) throw error
          return current.value
        }
      ).finally(() => {
        current.fetchedAt = clock.now()
        current.pending = undefined
      })
      return current.pending
    }
  }

  const at = cached(async (uri) => {
    const document = await fetchJson(uri, production)
    if (!Value.Check(JsonWebKeySet, document)) throw new KeySetError(`${uri}: not a JWK Set ({ "keys": [...] })`)
    return document
  })
  const discoveredUri = cached(async (issuer) => {
    const document = (await fetchJson(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, production)) as { jwks_uri?: unknown; issuer?: unknown }
    // OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was fetched for.
    if (document?.issuer !== issuer) throw new KeySetError(`${issuer}: its discovery document names another issuer`)
    if (typeof document.jwks_uri !== 'string') throw new KeySetError(`${issuer}: its discovery document has no jwks_uri`)
    return document.jwks_uri
  })
  return { at, discoveredUri }
}
