/**
 * DPoP proofs for the bench (RFC 9449 §4.2): each `jti` is single-use, so every request needs its own proof. They
 * are signed before a run, within DPOP_PROOF_MAX_AGE of being sent, so that what a run measures is the service's
 * cost (and the load generator spends none of the shared CPUs signing).
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { accessTokenHash } from '@jwt-auth-service/verifier/feed'

export interface DpopSigner {
  /** `count` proofs for `htm` and `htu`, each with its own `jti`; `accessToken` adds `ath`. */
  proofs(count: number, htm: string, htu: string, accessToken?: string): string[]
}

const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A P-256 key (ES256), as a browser's non-extractable WebCrypto key would sign. */
export function dpopSigner(): DpopSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const header = encode({ typ: 'dpop+jwt', alg: 'ES256', jwk: publicKey.export({ format: 'jwk' }) })
  return {
    proofs(count, htm, htu, accessToken) {
      const iat = Math.floor(Date.now() / 1000)
      const ath = accessToken === undefined ? {} : { ath: accessTokenHash(accessToken) }
      return Array.from({ length: count }, () => {
        const input = `${header}.${encode({ jti: randomBytes(12).toString('base64url'), htm, htu, iat, ...ath })}`
        return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
      })
    }
  }
}
