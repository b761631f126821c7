import { createLocalJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import type { Client, JsonWebKeySet } from '../schemas/clients.js'
import type { SingleUseStore } from '../stores/single-use/index.js'
import { toSeconds, type Clock } from './clock.js'
import { KeySetError, type KeySets } from './key-sets.js'

/** RFC 7523 §2.2. */
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/**
 * Asymmetric only (never `none`, never HMAC: the server holds no client secret to check one with). Ed25519 is
 * RFC 9864's fully specified name for EdDSA over that curve, which oauth4webapi and openid-client sign with.
 */
export const ASSERTION_ALGORITHMS = ['ES256', 'EdDSA', 'Ed25519', 'RS256', 'PS256']

/**
 * The set as jose should see it. RFC 9864: a key registered as EdDSA or Ed25519 verifies signatures under
 * either name. A SPIFFE trust bundle marks its JWT-SVID keys `use: "jwt-svid"` and its X.509 roots
 * `x509-svid` (SPIFFE Trust Domain and Bundle §4.2): the first sign, the second never do.
 */
function forVerification(jwks: JsonWebKeySet): JsonWebKeySet {
  const keys = jwks.keys
    .filter((key) => key.use === undefined || key.use === 'sig' || key.use === 'jwt-svid')
    .map((key) => ({
      ...key,
      use: undefined,
      alg: key.crv === 'Ed25519' && EDWARDS_NAMES.has(key.alg as string) ? undefined : key.alg
    }))
  return { keys }
}
const EDWARDS_NAMES = new Set(['EdDSA', 'Ed25519'])

/** How far the clocks of the client, the federated issuer and the service may disagree. */
export const CLOCK_SKEW_SECONDS = 30

/** An assertion's unverified `iss` and `sub`: what finds the client when the request names none. */
export function assertedIdentity(assertion: string): { iss: string; sub: string } | undefined {
  try {
    const { iss, sub } = decodeJwt(assertion)
    return typeof iss === 'string' && typeof sub === 'string' ? { iss, sub } : undefined
  } catch {
    return undefined
  }
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
  // jose imports each key once per set object: the sets are kept as long as the record or the fetched document.
  const localSets = new WeakMap<JsonWebKeySet, JWTVerifyGetKey>()
  const localSet = (jwks: JsonWebKeySet): JWTVerifyGetKey => {
    let getKey = localSets.get(jwks)
    if (getKey === undefined) localSets.set(jwks, (getKey = createLocalJWKSet(forVerification(jwks) as Parameters<typeof createLocalJWKSet>[0])))
    return getKey
  }

  /** The client's keys: registered, at its URI (fetched again, within the cooldown, for a key it lacks), or discovered. */
  function keysOf(client: Client): JWTVerifyGetKey {
    if (client.jwks !== undefined) return localSet(client.jwks)
    const uriOf = async (): Promise<string> =>
      client.jwks_uri ?? (client.auth_method === 'federated' && client.federated_issuer !== undefined ? keySets.discoveredUri(client.federated_issuer) : Promise.reject(new KeySetError('no keys registered')))
    return async (header, token) => {
      const uri = await uriOf()
      try {
        return await localSet(await keySets.at(uri))(header, token)
      } catch (error) {
        if (!(error instanceof errors.JWKSNoMatchingKey)) throw error
        return localSet(await keySets.at(uri, true))(header, token)
      }
    }
  }

  return {
    async check(assertion, client, endpoint) {
      if (client.auth_method === 'client_secret') return 'the client authenticates with a secret'
      const federated = client.auth_method === 'federated'
      const now = toSeconds(clock.now())
      let payload: JWTPayload
      try {
        ;({ payload } = await jwtVerify(assertion, keysOf(client), {
          algorithms: ASSERTION_ALGORITHMS,
          issuer: federated ? client.federated_issuer : client.client_id,
          subject: federated ? client.federated_subject : client.client_id,
          // RFC 7523 §3: the issuer, or the endpoint's URL (the token endpoint's, which clients use for every endpoint, too).
          audience: federated ? settings.issuer : [settings.issuer, endpoint, tokenEndpoint],
          requiredClaims: federated ? ['exp'] : ['exp', 'jti'],
          currentDate: new Date(now * 1000),
          clockTolerance: CLOCK_SKEW_SECONDS
        }))
      } catch (error) {
        return reasonOf(error)
      }
      const { exp, iat } = payload as { exp: number; iat?: number }
      if (iat !== undefined && iat > now + CLOCK_SKEW_SECONDS) return 'the assertion is issued in the future (iat)'
      if (federated) {
        const lifetime = exp - (iat ?? now)
        if (lifetime > settings.federatedMaxLifetime) return `the token lives longer than FEDERATED_ASSERTION_MAX_LIFETIME (${settings.federatedMaxLifetime} s)`
        return undefined
      }
      if (exp > now + settings.clientAssertionMaxAge + CLOCK_SKEW_SECONDS) {
        return `the assertion expires further ahead than CLIENT_ASSERTION_MAX_AGE (${settings.clientAssertionMaxAge} s)`
      }
      return undefined
    },
    async spend(assertion, client) {
      if (client.auth_method !== 'private_key_jwt') return true
      const { jti, exp } = decodeJwt(assertion) as { jti: string; exp: number }
      // Remembered until the assertion can no longer pass anywhere: its exp, and the skew the check allows.
      return singleUse.use(`assertion:${client.client_id}`, jti, clock.now(), (exp + CLOCK_SKEW_SECONDS) * 1000)
    }
  }
}

/** One line for the client's developer: what was wrong, never a key. */
function reasonOf(error: unknown): string {
  if (error instanceof KeySetError) return `the keys could not be fetched: ${error.message}`
  if (error instanceof errors.JWKSNoMatchingKey) return 'no key of the client matches the assertion (kid, alg)'
  if (error instanceof errors.JOSEAlgNotAllowed) return `the algorithm is not one of ${ASSERTION_ALGORITHMS.join(', ')}`
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the signature does not verify'
  if (error instanceof errors.JWTExpired) return 'the assertion has expired'
  if (error instanceof errors.JWTClaimValidationFailed) return `the assertion's ${error.claim} claim is not valid (${error.reason})`
  if (error instanceof errors.JOSEError) return 'the assertion is not a valid signed JWT'
  return 'the assertion could not be checked'
}
