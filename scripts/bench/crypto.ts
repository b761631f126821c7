/**
 * The raw crypto limit of a refresh: one ES256 verify (of the presented token, never seen before) and one
 * ES256 sign (of its child), on one core, with node:crypto (what fast-jwt calls), on a token of the
 * service's size. A refresh cannot be faster than 1 / (verify + sign) per core.
 */
import { createSign, createVerify, generateKeyPairSync } from 'node:crypto'

export interface CryptoRate {
  signMicros: number
  verifyMicros: number
  /** Refreshes per second one core could do if a refresh were nothing but its crypto. */
  limitPerSecond: number
}

export function es256Rate(seconds: number): CryptoRate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: 'bench' })).toString('base64url')
  const claims = { iss: 'http://127.0.0.1:3000', sub: '00000000-0000-4000-8000-000000000000', aud: 'http://127.0.0.1:3000', iat: 1, exp: 2, jti: 'x'.repeat(22), sid: 'y'.repeat(22), auth_time: 1 }
  const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
  const sign = () => createSign('SHA256').update(input).sign({ key: privateKey, dsaEncoding: 'ieee-p1363' })
  const signature = sign()
  const verify = () => createVerify('SHA256').update(input).verify({ key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)

  const time = (operation: () => unknown): number => {
    for (let i = 0; i < 200; i++) operation() // warm-up
    let count = 0
    const start = performance.now()
    const deadline = start + (seconds * 1000) / 2
    while (performance.now() < deadline) {
      for (let i = 0; i < 50; i++) operation()
      count += 50
    }
    return ((performance.now() - start) * 1000) / count
  }
  if (!verify()) throw new Error('ES256 self-check failed')
  const signMicros = time(sign)
  const verifyMicros = time(verify)
  return { signMicros, verifyMicros, limitPerSecond: 1e6 / (signMicros + verifyMicros) }
}
