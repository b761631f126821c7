/**
 * DPoP proofs (RFC 9449 §4.3): the checks a server makes of a `DPoP` header before it binds a token to the
 * proof's key or admits a bound token. verifyDpopProof is pure; createDpopProofs spends the proof's `jti` in
 * the shared store too. The caller compares the thumbprint with the token's `cnf.jkt`.
 */
import type { KeyObject } from 'node:crypto'
import { ServiceError } from '../errors.js'
import type { SingleUseStore } from '../stores/single-use/index.js'
import { DPOP_ADVERTISED_ALGORITHMS, DPOP_ALGORITHMS, jwkThumbprint, PRIVATE_JWK_MEMBERS, proofClaimsProblem, proofExpiry, type ProofContext } from '@jwt-auth-service/verifier/feed'
import type { Clock } from './clock.js'
import type { DpopNonces } from './dpop-nonces.js'
import { decodeCompact, publicKeyFor, signatureVerifies } from './jws.js'

export { accessTokenHash, htuOf, jwkThumbprint } from '@jwt-auth-service/verifier/feed'

/** A proof that was refused; `message` says which check, for `WWW-Authenticate: DPoP error="invalid_dpop_proof"`. */
export class DpopProofError extends Error {
  override name = 'DpopProofError'
}

export interface ProofRequest extends ProofContext {
  /** The `DPoP` header's value (one header: the caller refuses two). */
  proof: string
}

export interface VerifiedProof {
  /** RFC 7638 thumbprint of the proof's key: what `cnf.jkt` of a bound token holds. */
  jkt: string
  /** For the single-use check, until `expiresAt`. */
  jti: string
  /** When a replay of this proof could no longer pass the `iat` check, in milliseconds. */
  expiresAt: number
  /** The proof's `nonce` claim, for the server that requires one (RFC 9449 §4.3 step 10). */
  nonce: unknown
}

const MAX_PROOF_LENGTH = 8192

/**
 * A client signs every proof with the same key: imported once (a JWK import costs about what the signature check
 * does), by thumbprint and algorithm, which fix the key's defining members. The oldest go first past the bound.
 */
const importedKeys = new Map<string, KeyObject | null>()
const MAX_IMPORTED_KEYS = 10_000
function cachedKey(jkt: string, alg: string, jwk: Record<string, unknown>): KeyObject | undefined {
  const id = `${alg}:${jkt}`
  let key = importedKeys.get(id)
  if (key === undefined) {
    key = publicKeyFor(jwk, alg) ?? null
    if (importedKeys.size >= MAX_IMPORTED_KEYS) importedKeys.delete(importedKeys.keys().next().value!)
    importedKeys.set(id, key)
  }
  return key ?? undefined
}

function refuse(reason: string): never {
  throw new DpopProofError(reason)
}

/** The checks of RFC 9449 §4.3, steps 2 to 12 (the nonce, when required, is the caller's); a DpopProofError names the first that fails. */
export function verifyDpopProof(request: ProofRequest): VerifiedProof {
  if (request.proof.length > MAX_PROOF_LENGTH) refuse('the DPoP proof is too long')
  const decoded = decodeCompact(request.proof) ?? refuse('the DPoP proof is not a compact JWS with a JSON header and payload')
  const { header, payload } = decoded
  if (header.typ !== 'dpop+jwt') refuse('the DPoP proof\'s typ is not dpop+jwt')
  const jwk = header.jwk
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) refuse('the DPoP proof has no jwk in its header')
  const key = jwk as Record<string, unknown>
  // A private key in the header (RFC 9449 §4.3 step 7), or a symmetric one.
  if (PRIVATE_JWK_MEMBERS.some((member) => member in key)) refuse('the DPoP proof\'s jwk is a private key')
  const jkt = jwkThumbprint(key) ?? refuse('the DPoP proof\'s jwk is not an EC, OKP or RSA public key')
  const alg = header.alg
  if (typeof alg !== 'string' || !(DPOP_ALGORITHMS as readonly string[]).includes(alg)) refuse('the DPoP proof: algorithm not allowed')
  // No extension is understood here, so none may be critical (RFC 7515 §4.1.11).
  if (header.crit !== undefined) refuse('the DPoP proof: crit is not supported')
  const publicKey = cachedKey(jkt, alg, key) ?? refuse('the DPoP proof: no key matches (kty, crv, alg, size)')
  if (!signatureVerifies(request.proof, alg, publicKey)) refuse('the DPoP proof\'s signature does not verify')
  const problem = proofClaimsProblem(payload, request)
  if (problem !== undefined) refuse(problem)
  return { jkt, jti: payload.jti as string, expiresAt: proofExpiry(payload.iat as number, request.maxAgeSeconds), nonce: payload.nonce }
}

type DpopError = 'invalid_dpop_proof' | 'invalid_token' | 'use_dpop_nonce'

/** The challenge of a refused proof (RFC 9449 §7.1): the scheme, the error, and the algorithms a proof may use. */
export function dpopChallenge(error: DpopError, description: string): string {
  return `DPoP error="${error}", error_description="${description.replace(/["\\]/g, '')}", algs="${DPOP_ADVERTISED_ALGORITHMS.join(' ')}"`
}

/** 401 DPOP_PROOF_INVALID with its DPoP challenge. */
export function dpopRefusal(description: string, error: Exclude<DpopError, 'use_dpop_nonce'> = 'invalid_dpop_proof'): ServiceError {
  return new ServiceError('DPOP_PROOF_INVALID', description, { 'www-authenticate': dpopChallenge(error, description) })
}

/**
 * 401 DPOP_NONCE_REQUIRED (RFC 9449 §9): the proof lacks a recent nonce of ours; `DPoP-Nonce` gives the one to use.
 * The token endpoint answers it as 400 `use_dpop_nonce` instead (§8).
 */
export class DpopNonceRequired extends ServiceError {
  constructor(readonly nonce: string) {
    const description = 'the DPoP proof must carry the nonce given in DPoP-Nonce'
    super('DPOP_NONCE_REQUIRED', description, { 'www-authenticate': dpopChallenge('use_dpop_nonce', description), 'dpop-nonce': nonce })
  }
}

export interface DpopProofs {
  /**
   * The thumbprint of the key that signed `proof`, once the proof passed every check for this request and its
   * `jti` was spent in the shared store (a replay is refused on every instance); 401 DPOP_PROOF_INVALID otherwise.
   */
  check(request: { proof: string | undefined; method: string; url: string; accessToken?: string }): Promise<string>
}

/**
 * Proofs checked against the service's clock and spent in `singleUse`, the store that spends client assertions'
 * ids; with `nonces` (DPOP_NONCE), each must carry a recent one.
 */
export function createDpopProofs(dependencies: { singleUse: SingleUseStore; clock: Clock; maxAgeSeconds: number; nonces?: DpopNonces | undefined }): DpopProofs {
  const { singleUse, clock, maxAgeSeconds, nonces } = dependencies
  return {
    async check({ proof, method, url, accessToken }) {
      if (proof === undefined) throw dpopRefusal('a DPoP proof is required (the DPoP header)')
      let verified: VerifiedProof
      try {
        verified = verifyDpopProof({ proof, method, url, accessToken, now: clock.now(), maxAgeSeconds })
      } catch (error) {
        if (error instanceof DpopProofError) throw dpopRefusal(error.message)
        throw error
      }
      // Checked once the proof is otherwise good, and before its jti is spent: the client's retry carries a new proof.
      if (nonces !== undefined && !nonces.accepts(verified.nonce)) throw new DpopNonceRequired(nonces.current())
      if (!(await singleUse.use('dpop', `${verified.jkt}:${verified.jti}`, clock.now(), verified.expiresAt))) throw dpopRefusal('the DPoP proof was used before')
      return verified.jkt
    }
  }
}
