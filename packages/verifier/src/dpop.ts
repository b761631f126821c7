/**
 * DPoP proofs (RFC 9449 §4.3), the rules every verifier of a bound token applies (the service's own, with
 * node:crypto; this package's, with jose): the claims a proof must carry for the request it comes with, and a
 * replay cache for a verifier that keeps no shared store. A bound token carries `cnf.jkt`, the RFC 7638
 * thumbprint of the key its every use must prove.
 */
import { createHash } from 'node:crypto'
import { decodeProtectedHeader, EmbeddedJWK, jwtVerify } from 'jose'

/** Asymmetric algorithms only (RFC 9449 §4.3 step 5): never `none`, never an HMAC. */
export const DPOP_ALGORITHMS = ['ES256', 'EdDSA', 'Ed25519', 'RS256', 'PS256'] as const

/** What the metadata (`dpop_signing_alg_values_supported`) and the challenges' `algs` name: Ed25519 is EdDSA's other name (RFC 9864). */
export const DPOP_ADVERTISED_ALGORITHMS: readonly string[] = DPOP_ALGORITHMS.filter((alg) => alg !== 'Ed25519')

/** RFC 7638's members for each key type, in the lexicographic order the thumbprint hashes them in. */
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = { EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'], RSA: ['e', 'kty', 'n'], oct: ['k', 'kty'] }

/**
 * The RFC 7638 SHA-256 thumbprint of a JWK, base64url; undefined for a key type or member it cannot have. A
 * symmetric key has one too (the service's HS256 `kid`): a DPoP proof's key is refused for its `k` before this.
 */
export function jwkThumbprint(jwk: Readonly<Record<string, unknown>>): string | undefined {
  const members = THUMBPRINT_MEMBERS[jwk.kty as string]
  if (members === undefined || members.some((member) => typeof jwk[member] !== 'string')) return undefined
  const canonical = `{${members.map((member) => `${JSON.stringify(member)}:${JSON.stringify(jwk[member])}`).join(',')}}`
  return createHash('sha256').update(canonical).digest('base64url')
}

/** Members that make a JWK private or symmetric (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2): a proof's key has none. */
export const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const

/** How far ahead of the verifier's clock a proof's `iat` may be, in seconds. */
export const DPOP_CLOCK_SKEW_SECONDS = 30

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

/** The request a proof must be for. */
export interface ProofContext {
  /** The request's method, as `htm` must name it. */
  method: string
  /** The request's absolute URL as the client addressed it; its query and fragment are ignored. */
  url: string
  /** The access token presented with the proof, whose hash `ath` must be; none where no token is presented (a login). */
  accessToken?: string
  /** Now, in milliseconds. */
  now: number
  /** How old a proof's `iat` may be, in seconds. */
  maxAgeSeconds: number
}

/** RFC 9449 §4.3 steps 8 to 12 on a proof's verified payload: the first check that fails, or undefined. */
export function proofClaimsProblem(payload: Readonly<Record<string, unknown>>, context: ProofContext): string | undefined {
  const { jti, htm, htu, iat, ath } = payload
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) return 'the DPoP proof has no jti of at most 256 characters'
  if (htm !== context.method) return "the DPoP proof's htm is not this request's method"
  const expected = htuOf(context.url)
  if (typeof htu !== 'string' || expected === undefined || htuOf(htu) !== expected) return "the DPoP proof's htu is not this request's URL"
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return 'the DPoP proof has no iat'
  if (iat * 1000 > context.now + DPOP_CLOCK_SKEW_SECONDS * 1000) return 'the DPoP proof is issued in the future'
  if (iat * 1000 < context.now - context.maxAgeSeconds * 1000) return 'the DPoP proof is too old'
  if (context.accessToken !== undefined && ath !== accessTokenHash(context.accessToken)) return "the DPoP proof's ath is not the access token's hash"
  return undefined
}

/** When a proof issued at `iat` (seconds) can no longer pass the `iat` check: how long its `jti` must be remembered. */
export const proofExpiry = (iat: number, maxAgeSeconds: number): number => (iat + maxAgeSeconds + DPOP_CLOCK_SKEW_SECONDS) * 1000

/**
 * The `jti`s of the proofs a verifier admitted, each until its proof could no longer pass: a replay to this
 * process is refused. At most `capacity` live entries; when they are all live, a new proof is refused (a fail
 * closed answer to a flood) rather than an old one forgotten.
 */
export class ProofReplayCache {
  private readonly seen = new Map<string, number>()
  /** No entry expires before this: a full cache is swept no sooner, so a flood of refused proofs costs no scans. */
  private earliestExpiry = Number.POSITIVE_INFINITY
  constructor(private readonly capacity = 100_000) {}

  /** True the first time `key` is used before `until`; false for a replay, or when the cache is full of live entries. */
  use(key: string, until: number, now: number): boolean {
    const known = this.seen.get(key)
    if (known !== undefined && known > now) return false
    if (this.seen.size >= this.capacity) {
      if (now < this.earliestExpiry) return false
      this.earliestExpiry = Number.POSITIVE_INFINITY
      for (const [entry, expiry] of this.seen) {
        if (expiry <= now) this.seen.delete(entry)
        else this.earliestExpiry = Math.min(this.earliestExpiry, expiry)
      }
      if (this.seen.size >= this.capacity) return false
    }
    this.seen.set(key, until)
    this.earliestExpiry = Math.min(this.earliestExpiry, until)
    return true
  }
}

/** A proof this package verified: its key's thumbprint, and what the replay cache keeps. */
export interface CheckedProof {
  jkt: string
  jti: string
  expiresAt: number
}

/** RFC 9449 §4.3 with jose (the signature by the key in the header); throws Error with the reason. */
export async function checkProofWithJose(proof: string, context: ProofContext): Promise<CheckedProof> {
  let header: Record<string, unknown>
  try {
    header = decodeProtectedHeader(proof) as Record<string, unknown>
  } catch {
    throw new Error('the DPoP proof is not a compact JWS')
  }
  const jwk = header.jwk
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new Error('the DPoP proof has no jwk in its header')
  if (PRIVATE_JWK_MEMBERS.some((member) => member in jwk)) throw new Error("the DPoP proof's jwk is a private key")
  const jkt = jwkThumbprint(jwk as Record<string, unknown>)
  if (jkt === undefined) throw new Error("the DPoP proof's jwk is not an EC, OKP or RSA public key")
  let payload: Record<string, unknown>
  try {
    payload = (await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [...DPOP_ALGORITHMS], currentDate: new Date(context.now) })).payload
  } catch {
    throw new Error("the DPoP proof's type, algorithm or signature is not valid")
  }
  const problem = proofClaimsProblem(payload, context)
  if (problem !== undefined) throw new Error(problem)
  return { jkt, jti: payload.jti as string, expiresAt: proofExpiry(payload.iat as number, context.maxAgeSeconds) }
}
