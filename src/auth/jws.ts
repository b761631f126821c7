import { constants, createPublicKey, verify, type KeyObject, type VerifyKeyObjectInput } from 'node:crypto'
import type { JsonWebKeySet } from '../schemas/clients.js'

/**
 * Compact JWS verification against a JWK Set, synchronous, on node:crypto (RFC 7515 §5.2). A client
 * assertion is verified on every client-authenticated request: WebCrypto's verify, as jose calls it, hops to
 * the libuv pool and back, and costs about twice node:crypto's one-shot verify on this path.
 * Only what assertions need: the algorithms below, no `crit` extension, no key carried in the header.
 */

/** Why a JWS did not verify; `reason` is one line for the client's developer, never a key. */
export class JwsError extends Error {
  constructor(readonly kind: 'malformed' | 'algorithm' | 'no-key' | 'signature', reason: string) {
    super(reason)
  }
}

interface Algorithm {
  kty: 'EC' | 'OKP' | 'RSA'
  crv?: string
  /** undefined for EdDSA, which hashes inside the signature scheme. */
  digest: string | undefined
  options: Omit<VerifyKeyObjectInput, 'key'>
}

const RSA_MIN_BITS = 2048
const EDDSA: Algorithm = { kty: 'OKP', crv: 'Ed25519', digest: undefined, options: {} }
const ALGORITHMS: Record<string, Algorithm> = {
  ES256: { kty: 'EC', crv: 'P-256', digest: 'sha256', options: { dsaEncoding: 'ieee-p1363' } },
  // RFC 9864: Ed25519 is EdDSA's fully specified name over that curve; a key registered under either verifies both.
  EdDSA: EDDSA,
  Ed25519: EDDSA,
  RS256: { kty: 'RSA', digest: 'sha256', options: { padding: constants.RSA_PKCS1_PADDING } },
  PS256: { kty: 'RSA', digest: 'sha256', options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } }
}
const EDWARDS_NAMES = new Set(['EdDSA', 'Ed25519'])

const BASE64URL = /^[A-Za-z0-9_-]+$/

/** A base64url part of a compact JWS that holds a JSON object, decoded; undefined otherwise. */
export function jsonObject(part: string): Record<string, unknown> | undefined {
  if (!BASE64URL.test(part)) return undefined
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** The unverified header and payload of a compact JWS whose payload is a JSON object, or undefined. */
export function decodeCompact(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } | undefined {
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  const header = jsonObject(parts[0]!)
  const payload = jsonObject(parts[1]!)
  return header === undefined || payload === undefined ? undefined : { header, payload }
}

// Each JWK object is imported once, while the set that holds it (a record, a fetched document) lives.
const imported = new WeakMap<object, KeyObject | null>()
function keyObject(jwk: Record<string, unknown>, algorithm: Algorithm): KeyObject | undefined {
  let key = imported.get(jwk)
  if (key === undefined) {
    try {
      key = 'd' in jwk ? null : createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' })
    } catch {
      key = null
    }
    imported.set(jwk, key)
  }
  if (key === null) return undefined
  if (algorithm.kty === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < RSA_MIN_BITS) return undefined
  return key
}

/** The set's keys that may verify `alg` under `kid` (RFC 7517 §4: kty, use, key_ops, alg; the curve). */
function candidates(jwks: JsonWebKeySet, alg: string, algorithm: Algorithm, kid: unknown): Record<string, unknown>[] {
  return jwks.keys.filter((key) => {
    if (key.kty !== algorithm.kty) return false
    if (algorithm.crv !== undefined && key.crv !== algorithm.crv) return false
    if (kid !== undefined && key.kid !== kid) return false
    // A SPIFFE trust bundle marks JWT-SVID keys `jwt-svid` and its X.509 roots `x509-svid` (SPIFFE Trust Domain and Bundle §4.2).
    if (key.use !== undefined && key.use !== 'sig' && key.use !== 'jwt-svid') return false
    if (key.key_ops !== undefined && !(Array.isArray(key.key_ops) && key.key_ops.includes('verify'))) return false
    if (key.alg !== undefined && key.alg !== alg && !(EDWARDS_NAMES.has(key.alg as string) && EDWARDS_NAMES.has(alg))) return false
    return true
  })
}

function verifies(algorithm: Algorithm, key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    return verify(algorithm.digest, data, { key, ...algorithm.options }, signature)
  } catch {
    // A signature of the wrong shape for the key (OpenSSL refuses to parse it): it does not verify.
    return false
  }
}

/** `jwk` as a public key that may verify `alg` (its kty, crv, use and size), or undefined: for a key carried with the JWS (DPoP). */
export function publicKeyFor(jwk: Record<string, unknown>, alg: string): KeyObject | undefined {
  const algorithm = ALGORITHMS[alg]
  if (algorithm === undefined || candidates({ keys: [jwk] }, alg, algorithm, undefined).length === 0) return undefined
  return keyObject(jwk, algorithm)
}

/** Whether `key` (from publicKeyFor, for `alg`) verifies the compact JWS `token`'s signature. */
export function signatureVerifies(token: string, alg: string, key: KeyObject): boolean {
  const algorithm = ALGORITHMS[alg]
  const [protectedHeader, body, signature] = token.split('.') as [string, string, string | undefined]
  if (algorithm === undefined || signature === undefined || !BASE64URL.test(signature)) return false
  return verifies(algorithm, key, Buffer.from(`${protectedHeader}.${body}`), Buffer.from(signature, 'base64url'))
}

/**
 * The payload of `token` when one of `jwks`'s keys verifies it under one of `algorithms`; else a JwsError.
 * `jwks` is a getter so that a caller may fetch the set again when no key matches (an unknown `kid`).
 */
export async function verifyCompact(
  token: string,
  algorithms: readonly string[],
  jwks: (refresh: boolean) => Promise<JsonWebKeySet>
): Promise<Record<string, unknown>> {
  const decoded = decodeCompact(token)
  if (decoded === undefined) throw new JwsError('malformed', 'not a compact JWS with a JSON header and payload')
  const { header, payload } = decoded
  const alg = header.alg
  if (typeof alg !== 'string' || !algorithms.includes(alg) || ALGORITHMS[alg] === undefined) throw new JwsError('algorithm', 'algorithm not allowed')
  // No extension is understood here, so none may be critical (RFC 7515 §4.1.11); b64=false lives only under crit (RFC 7797 §6).
  if (header.crit !== undefined) throw new JwsError('malformed', 'crit is not supported')
  const algorithm = ALGORITHMS[alg]!
  const [protectedHeader, body, signature] = token.split('.') as [string, string, string]
  if (!BASE64URL.test(signature)) throw new JwsError('malformed', 'the signature is not base64url')
  const data = Buffer.from(`${protectedHeader}.${body}`)
  const signatureBytes = Buffer.from(signature, 'base64url')

  for (const refresh of [false, true]) {
    const keys = candidates(await jwks(refresh), alg, algorithm, header.kid)
      .map((jwk) => keyObject(jwk, algorithm))
      .filter((key) => key !== undefined)
    if (keys.length === 0) continue
    for (const key of keys) {
      if (verifies(algorithm, key, data, signatureBytes)) return payload
    }
    throw new JwsError('signature', 'the signature does not verify')
  }
  throw new JwsError('no-key', 'no key matches (kid, alg)')
}
