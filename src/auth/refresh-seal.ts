import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

/*
 * During the refresh grace the store keeps a rotated token's first child, so that a retry or a
 * second tab gets the same answer. The child is sealed (AES-256-GCM) under a key derived from the
 * parent token itself, which only its holder has: a copy of the store's contents alone hands out
 * no usable token. The parent is a signed JWT with far more than 256 bits of entropy in its
 * signature, so a fast KDF is enough.
 */
const IV_BYTES = 12
const TAG_BYTES = 16

function sealKey(parentToken: string): Buffer {
  return Buffer.from(hkdfSync('sha256', parentToken, 'jwt-auth-service', 'refresh-grace-seal-v1', 32))
}

export function sealChild(parentToken: string, childToken: string): string {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', sealKey(parentToken), iv)
  const body = Buffer.concat([cipher.update(childToken, 'utf8'), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')
}

/** The child, or undefined when the seal was not made for this parent (or was tampered with). */
export function openChild(parentToken: string, sealed: string): string | undefined {
  const bytes = Buffer.from(sealed, 'base64url')
  if (bytes.length <= IV_BYTES + TAG_BYTES) return undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', sealKey(parentToken), bytes.subarray(0, IV_BYTES))
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES))
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8')
  } catch {
    return undefined
  }
}
