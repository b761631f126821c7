/**
 * DPoP proofs (RFC 9449 §4.3): the checks a server makes of a `DPoP` header before it binds a token to the
 * proof's key or admits a bound token. verifyDpopProof is pure; createDpopProofs spends the proof's `jti` in
 * the shared store too. The caller compares the thumbprint with the token's `cnf.jkt`.
 */
import { createHash } from 'node:crypto'
import { ServiceError } from '../errors.js'
import type { SingleUseStore } from '../stores/single-use/index.js'
import { CLOCK_SKEW_SECONDS } from './client-assertions.js'
import type { Clock } from './clock.js'
import { decodeCompact, JwsError, verifyCompact } from './jws.js'
import { PRIVATE_MEMBERS } from './key-sets.js'

/** Asymmetric algorithms only (RFC 9449 §4.3 step 5): never `none`, never an HMAC. */
export const DPOP_ALGORITHMS = ['ES256', 'EdDSA', 'Ed25519', 'RS256', 'PS256'] as const

/** A proof that was refused; `message` says which check, for `WWW-Authenticate: DPoP error="invalid_dpop_proof"`. */
export class DpopProofError extends Error {
  override name = 'DpopProofError'
}

export interface ProofRequest {
  /** The `DPoP` header's value (one header: the caller refuses two). */
  proof: string
  /** The request's method, as `htm` must name it. */
  method: string
  /** The request's absolute URL as the client addressed it; its query and fragment are ignored (§4.3 step 9). */
  url: string
  /** The access token presented with the proof, whose hash `ath` must be (§4.3 step 12); none at login or refresh. */
  accessToken?: string
  /** Now, in milliseconds. */
  now: number
  /** How old a proof's `iat` may be, in seconds (DPOP_PROOF_MAX_AGE). */
  maxAgeSeconds: number
  /** How far in the future `iat` may be, in seconds: the clocks' skew. */
  skewSeconds: number
}

export interface VerifiedProof {
  /** RFC 7638 thumbprint of the proof's key: what `cnf.jkt` of a bound token holds. */
  jkt: string
  /** For the single-use check, until `expiresAt`. */
  jti: string
  /** When a replay of this proof could no longer pass the `iat` check, in milliseconds. */
  expiresAt: number
}

/** RFC 7638's members for each key type, in the lexicographic order the thumbprint hashes them in. */
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = { EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'], RSA: ['e', 'kty', 'n'] }

/** The RFC 7638 SHA-256 thumbprint of a public JWK, base64url; undefined for a key type or member it cannot have. */
export function jwkThumbprint(jwk: Record<string, unknown>): string | undefined {
  const members = THUMBPRINT_MEMBERS[jwk.kty as string]
  if (members === undefined || members.some((member) => typeof jwk[member] !== 'string')) return undefined
  const canonical = `{${members.map((member) => `${JSON.stringify(member)}:${JSON.stringify(jwk[member])}`).join(',')}}`
  return createHash('sha256').update(canonical).digest('base64url')
}

/** `ath`: the base64url SHA-256 of the access token's ASCII (RFC 9449 §4.2). */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url')
}

/** A URL as `htu` is compared (RFC 9449 §4.3 step 9, RFC 3986 §6.2.2–6.2.3): no query or fragment, scheme and host in lower case, no default port. */
export function htuOf(url: string): string | undefined {
  try {
    const parsed = new URL(url)
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return undefined
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`
  } catch {
    return undefined
  }
}

const MAX_PROOF_LENGTH = 8192
const MAX_JTI_LENGTH = 256

function refuse(reason: string): never {
  throw new DpopProofError(reason)
}

/** The checks of RFC 9449 §4.3, steps 2 to 12 (the nonce, when required, is the caller's); a DpopProofError names the first that fails. */
export async function verifyDpopProof(request: ProofRequest): Promise<VerifiedProof> {
  if (request.proof.length > MAX_PROOF_LENGTH) refuse('the DPoP proof is too long')
  const decoded = decodeCompact(request.proof) ?? refuse('the DPoP proof is not a compact JWS with a JSON header and payload')
  const { header, payload } = decoded
  if (header.typ !== 'dpop+jwt') refuse('the DPoP proof\'s typ is not dpop+jwt')
  const jwk = header.jwk
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) refuse('the DPoP proof has no jwk in its header')
  const key = jwk as Record<string, unknown>
  // A private key in the header (RFC 9449 §4.3 step 7), or a symmetric one.
  if (PRIVATE_MEMBERS.some((member) => member in key)) refuse('the DPoP proof\'s jwk is a private key')
  const jkt = jwkThumbprint(key) ?? refuse('the DPoP proof\'s jwk is not an EC, OKP or RSA public key')
  try {
    await verifyCompact(request.proof, DPOP_ALGORITHMS, async () => ({ keys: [key] }))
  } catch (error) {
    if (error instanceof JwsError) refuse(error.kind === 'signature' ? 'the DPoP proof\'s signature does not verify' : `the DPoP proof: ${error.message}`)
    throw error
  }
  const { jti, htm, htu, iat, ath } = payload
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) refuse('the DPoP proof has no jti of at most 256 characters')
  if (htm !== request.method) refuse('the DPoP proof\'s htm is not this request\'s method')
  const expected = htuOf(request.url)
  if (typeof htu !== 'string' || expected === undefined || htuOf(htu) !== expected) refuse('the DPoP proof\'s htu is not this request\'s URL')
  if (typeof iat !== 'number' || !Number.isFinite(iat)) refuse('the DPoP proof has no iat')
  const issuedAt = iat * 1000
  if (issuedAt > request.now + request.skewSeconds * 1000) refuse('the DPoP proof is issued in the future')
  if (issuedAt < request.now - request.maxAgeSeconds * 1000) refuse('the DPoP proof is too old')
  if (request.accessToken !== undefined && ath !== accessTokenHash(request.accessToken)) refuse('the DPoP proof\'s ath is not the access token\'s hash')
  return { jkt, jti, expiresAt: issuedAt + (request.maxAgeSeconds + request.skewSeconds) * 1000 }
}

/** The challenge of a refused proof (RFC 9449 §7.1): the scheme, the error, and the algorithms a proof may use. */
export function dpopChallenge(error: 'invalid_dpop_proof' | 'invalid_token', description: string): string {
  return `DPoP error="${error}", error_description="${description.replace(/["\\]/g, '')}", algs="${DPOP_ALGORITHMS.filter((alg) => alg !== 'Ed25519').join(' ')}"`
}

/** 401 DPOP_PROOF_INVALID with its DPoP challenge. */
export function dpopRefusal(description: string, error: 'invalid_dpop_proof' | 'invalid_token' = 'invalid_dpop_proof'): ServiceError {
  return new ServiceError('DPOP_PROOF_INVALID', description, { 'www-authenticate': dpopChallenge(error, description) })
}

export interface DpopProofs {
  /**
   * The thumbprint of the key that signed `proof`, once the proof passed every check for this request and its
   * `jti` was spent in the shared store (a replay is refused on every instance); 401 DPOP_PROOF_INVALID otherwise.
   */
  check(request: { proof: string | undefined; method: string; url: string; accessToken?: string }): Promise<string>
}

/** Proofs checked against the service's clock and spent in `singleUse`, the store that spends client assertions' ids. */
export function createDpopProofs(dependencies: { singleUse: SingleUseStore; clock: Clock; maxAgeSeconds: number }): DpopProofs {
  const { singleUse, clock, maxAgeSeconds } = dependencies
  return {
    async check({ proof, method, url, accessToken }) {
      if (proof === undefined) throw dpopRefusal('a DPoP proof is required (the DPoP header)')
      let verified: VerifiedProof
      try {
        verified = await verifyDpopProof({ proof, method, url, accessToken, now: clock.now(), maxAgeSeconds, skewSeconds: CLOCK_SKEW_SECONDS })
      } catch (error) {
        if (error instanceof DpopProofError) throw dpopRefusal(error.message)
        throw error
      }
      if (!(await singleUse.use('dpop', `${verified.jkt}:${verified.jti}`, clock.now(), verified.expiresAt))) throw dpopRefusal('the DPoP proof was used before')
      return verified.jkt
    }
  }
}
