/**
 * Server nonces for DPoP proofs (RFC 9449 §8 and §9, `DPOP_NONCE=true`): a proof must carry a nonce this service
 * issued a short while ago, so that a client cannot sign proofs ahead of time for use later.
 *
 * They are stateless, so that every instance issues and accepts the same ones without a store: a nonce is the
 * time window it was issued in and an HMAC of that window. The HMAC key is derived (HKDF, RFC 5869) from each
 * signing key the instance holds: instances that sign the same tokens agree, and during a key rotation (the next
 * and retired keys) the nonces of either side pass on the other. A nonce passes in its window and the next, so
 * from `windowSeconds` to twice that after it was issued.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import type { KeySet } from '../keys/key-set.js'
import type { Clock } from './clock.js'

export interface DpopNonces {
  /** The nonce to send in `DPoP-Nonce` now. */
  current(): string
  /** Whether a proof's `nonce` claim is one of ours, and recent. */
  accepts(nonce: unknown): boolean
}

const WINDOW_BYTES = 6
const MAC_BYTES = 16
/** base64url of 22 bytes. */
const NONCE_LENGTH = Math.ceil(((WINDOW_BYTES + MAC_BYTES) * 4) / 3)

function nonceKey(privateKey: string | Buffer, kid: string): Buffer {
  return Buffer.from(hkdfSync('sha256', privateKey, 'jwt-auth-service DPoP nonce', kid, 32))
}

function windowBytes(window: number): Buffer {
  const bytes = Buffer.alloc(WINDOW_BYTES)
  bytes.writeUIntBE(window, 0, WINDOW_BYTES)
  return bytes
}

const macOf = (key: Buffer, window: Buffer): Buffer => createHmac('sha256', key).update(window).digest().subarray(0, MAC_BYTES)

export function createDpopNonces(keys: KeySet, clock: Clock, windowSeconds: number): DpopNonces {
  const signingKey = nonceKey(keys.signing.privateKey, keys.signing.kid)
  const verifyingKeys = [...keys.byKid.values()].map((key) => nonceKey(key.privateKey, key.kid))
  const windowNow = (): number => Math.floor(clock.now() / 1000 / windowSeconds)
  let issued: { window: number; nonce: string } | undefined

  return {
    current() {
      const window = windowNow()
      if (issued?.window !== window) {
        const bytes = windowBytes(window)
        issued = { window, nonce: Buffer.concat([bytes, macOf(signingKey, bytes)]).toString('base64url') }
      }
      return issued.nonce
    },
    accepts(nonce) {
      if (typeof nonce !== 'string' || nonce.length !== NONCE_LENGTH) return false
      const bytes = Buffer.from(nonce, 'base64url')
      // Node's decoder skips what is not base64url: only the canonical spelling is ours.
      if (bytes.length !== WINDOW_BYTES + MAC_BYTES || bytes.toString('base64url') !== nonce) return false
      const window = bytes.readUIntBE(0, WINDOW_BYTES)
      const age = windowNow() - window
      if (age !== 0 && age !== 1) return false
      const mac = bytes.subarray(WINDOW_BYTES)
      const windowPart = bytes.subarray(0, WINDOW_BYTES)
      return verifyingKeys.some((key) => timingSafeEqual(mac, macOf(key, windowPart)))
    }
  }
}
