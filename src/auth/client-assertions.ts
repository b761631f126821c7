import type { Client, JsonWebKeySet } from '../schemas/clients.js'
import type { SingleUseStore } from '../stores/single-use/index.js'
import { toSeconds, type Clock } from './clock.js'
import { decodeCompact, JwsError, verifyCompact } from './jws.js'
import { KeySetError, type KeySets } from './key-sets.js'

/** RFC 7523 §2.2. */
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/**
 * Asymmetric only (never `none`, never HMAC: the server holds no client secret to check one with). Ed25519 is
 * RFC 9864's fully specified name for EdDSA over that curve, which oauth4webapi and openid-client sign with.
 */
export const ASSERTION_ALGORITHMS = ['ES256', 'EdDSA', 'Ed25519', 'RS256', 'PS256']

/** How far the clocks of the client, the federated issuer and the service may disagree. */
export const CLOCK_SKEW_SECONDS = 30

/** An assertion's unverified `iss` and `sub`: what finds the client when the request names none. */
export function assertedIdentity(assertion: string): { iss: string; sub: string } | undefined {
  const { iss, sub } = decodeCompact(assertion)?.payload ?? {}
  return typeof iss === 'string' && typeof sub === 'string' ? { iss, sub } : undefined
}

/**
 * Checks a client assertion against a private_key_jwt client (RFC 7523 §3: `iss` = `sub` = the client id,
 * `aud` this server, a bounded `exp`, a single-use `jti`) or a federated one (the workload's token from its
 * own issuer: `iss` and `sub` exact, `aud` contains ISSUER, a bounded lifetime; its `jti` is not single-use,
 * since the kubelet presents one projected token until it rotates it).
 */
export interface ClientAssertions {
  /**
   * Undefined when the assertion proves `client` for a request to `endpoint` (the endpoint's URL), else why
   * not. Only the signature and claims: no state is changed, so it may run again on a newer record.
   */
  check(assertion: string, client: Client, endpoint: string): Promise<string | undefined>
  /** After a successful check: spends a private_key_jwt assertion's `jti`. False when it was spent before. */
  spend(assertion: string, client: Client): Promise<boolean>
}

export interface AssertionSettings {
  issuer: string
  clientAssertionMaxAge: number
  federatedMaxLifetime: number
}

export function createClientAssertions(options: { settings: AssertionSettings; clock: Clock; keySets: KeySets; singleUse: SingleUseStore }): ClientAssertions {
  const { settings, clock, keySets, singleUse } = options
  const tokenEndpoint = `${settings.issuer}/oauth/token`

  /** The client's keys: registered, at its URI (fetched again, within the cooldown, for a key it lacks), or discovered. */
  function keysOf(client: Client): (refresh: boolean) => Promise<JsonWebKeySet> {
    const registered = client.jwks
    if (registered !== undefined) return async () => registered
    return async (refresh) => {
      const uri = client.jwks_uri ?? (client.auth_method === 'federated' && client.federated_issuer !== undefined ? await keySets.discoveredUri(client.federated_issuer) : undefined)
      if (uri === undefined) throw new KeySetError('no keys registered')
      return keySets.at(uri, refresh)
    }
  }

  return {
    async check(assertion, client, endpoint) {
      if (client.auth_method === 'client_secret') return 'the client authenticates with a secret'
      const federated = client.auth_method === 'federated'
      let payload: Record<string, unknown>
      try {
        payload = await verifyCompact(assertion, ASSERTION_ALGORITHMS, keysOf(client))
      } catch (error) {
        return reasonOf(error)
      }
      // RFC 7523 §3: the issuer, or the endpoint's URL (the token endpoint's, which clients use for every endpoint, too).
      const audiences = federated ? [settings.issuer] : [settings.issuer, endpoint, tokenEndpoint]
      return claimsProblem(payload, {
        issuer: (federated ? client.federated_issuer : client.client_id) ?? '',
        subject: (federated ? client.federated_subject : client.client_id) ?? '',
        audiences,
        jtiRequired: !federated,
        // A private_key_jwt assertion is short-lived by rule; a workload's token may live up to the federated bound.
        maxLifetime: federated ? settings.federatedMaxLifetime : undefined,
        maxAhead: federated ? undefined : settings.clientAssertionMaxAge,
        now: toSeconds(clock.now())
      })
    },
    async spend(assertion, client) {
      if (client.auth_method !== 'private_key_jwt') return true
      const { jti, exp } = decodeCompact(assertion)!.payload as { jti: string; exp: number }
      // Remembered until the assertion can no longer pass anywhere: its exp, and the skew the check allows.
      return singleUse.use(`assertion:${client.client_id}`, jti, clock.now(), (exp + CLOCK_SKEW_SECONDS) * 1000)
    }
  }
}

interface ClaimRules {
  issuer: string
  subject: string
  audiences: readonly string[]
  jtiRequired: boolean
  maxLifetime: number | undefined
  maxAhead: number | undefined
  now: number
}

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value)

/** RFC 7519 §4.1 and RFC 7523 §3 on a verified payload: undefined when they hold, else which failed. */
function claimsProblem(payload: Record<string, unknown>, rules: ClaimRules): string | undefined {
  const { now } = rules
  if (payload.iss !== rules.issuer) return "the assertion's iss claim is not valid (unexpected value)"
  if (payload.sub !== rules.subject) return "the assertion's sub claim is not valid (unexpected value)"
  const aud = payload.aud
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : []
  if (!audiences.some((value) => typeof value === 'string' && rules.audiences.includes(value))) return "the assertion's aud claim is not valid (unexpected value)"
  if (!isTime(payload.exp)) return "the assertion's exp claim is not valid (missing or not a number)"
  if (payload.exp <= now - CLOCK_SKEW_SECONDS) return 'the assertion has expired'
  if (payload.nbf !== undefined && !(isTime(payload.nbf) && payload.nbf <= now + CLOCK_SKEW_SECONDS)) return "the assertion's nbf claim is not valid (not yet valid)"
  if (payload.iat !== undefined && !isTime(payload.iat)) return "the assertion's iat claim is not valid (not a number)"
  if (payload.iat !== undefined && payload.iat > now + CLOCK_SKEW_SECONDS) return 'the assertion is issued in the future (iat)'
  if (rules.jtiRequired && (typeof payload.jti !== 'string' || payload.jti === '')) return "the assertion's jti claim is not valid (missing)"
  if (rules.maxLifetime !== undefined && payload.exp - ((payload.iat as number | undefined) ?? now) > rules.maxLifetime) {
    return `the token lives longer than FEDERATED_ASSERTION_MAX_LIFETIME (${rules.maxLifetime} s)`
  }
  if (rules.maxAhead !== undefined && payload.exp > now + rules.maxAhead + CLOCK_SKEW_SECONDS) {
    return `the assertion expires further ahead than CLIENT_ASSERTION_MAX_AGE (${rules.maxAhead} s)`
  }
  return undefined
}

/** One line for the client's developer: what was wrong, never a key. */
function reasonOf(error: unknown): string {
  if (error instanceof KeySetError) return `the keys could not be fetched: ${error.message}`
  if (error instanceof JwsError) {
    if (error.kind === 'no-key') return 'no key of the client matches the assertion (kid, alg)'
    if (error.kind === 'algorithm') return `the algorithm is not one of ${ASSERTION_ALGORITHMS.join(', ')}`
    if (error.kind === 'signature') return 'the signature does not verify'
    return 'the assertion is not a valid signed JWT'
  }
  return 'the assertion could not be checked'
}
