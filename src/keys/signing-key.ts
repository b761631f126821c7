import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  type JsonWebKey,
  type KeyObject
} from 'node:crypto'
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { jwkThumbprint } from '@jwt-auth-service/verifier/feed'
import { ConfigError, type Config, type JwtAlgorithm } from '../config.js'

/** The key tokens are signed with, in the forms @fastify/jwt and the JWKS need. */
export interface SigningKey {
  alg: JwtAlgorithm
  /** RFC 7638 thumbprint of the public key (of the secret, for HS256). */
  kid: string
  /** PEM private key, or the HMAC secret. */
  privateKey: string | Buffer
  /** PEM public key, or the HMAC secret. */
  publicKey: string | Buffer
  /** What the JWKS publishes; undefined for HS256, whose key is secret. */
  publicJwk: PublicJwk | undefined
}

export type PublicJwk = JsonWebKey & { kty: string; kid: string; alg: JwtAlgorithm; use: 'sig' }

const MIN_HMAC_SECRET_BYTES = 32
const MIN_RSA_BITS = 2048

/** A new private key for the algorithm: PEM (PKCS#8), or a 256-bit base64url secret for HS256. */
export function generatePrivateKey(alg: JwtAlgorithm): string {
  const toPem = (key: KeyObject): string => key.export({ type: 'pkcs8', format: 'pem' }).toString()
  switch (alg) {
    case 'ES256':
      return toPem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey)
    case 'EdDSA':
      return toPem(generateKeyPairSync('ed25519').privateKey)
    case 'RS256':
      return toPem(generateKeyPairSync('rsa', { modulusLength: MIN_RSA_BITS }).privateKey)
    case 'HS256':
      return `${randomBytes(32).toString('base64url')}\n`
  }
}

/** The algorithm an asymmetric private key signs with here; HMAC secrets cannot be told apart. */
export function algorithmOf(text: string, source: string): JwtAlgorithm {
  let key: KeyObject
  try {
    key = createPrivateKey(text)
  } catch {
    throw new ConfigError(`${source}: not a PEM private key (an HS256 secret cannot be rotated this way)`)
  }
  if (key.asymmetricKeyType === 'ec') return 'ES256'
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA'
  if (key.asymmetricKeyType === 'rsa') return 'RS256'
  throw new ConfigError(`${source}: unsupported key type ${key.asymmetricKeyType}`)
}

/** Parses and checks a key for the algorithm; `source` names where it came from, for the error message. */
export function parseSigningKey(alg: JwtAlgorithm, text: string, source: string): SigningKey {
  if (alg === 'HS256') {
    // A PEM key is long enough to pass for a secret, and would then be used as one: a setting gone wrong.
    if (text.includes('-----BEGIN')) {
      let hint = ''
      try {
        hint = `; for this key set JWT_ALGORITHM=${algorithmOf(text, source)}`
      } catch {
        // A public key or another PEM: no algorithm to suggest.
      }
      throw new ConfigError(`${source}: JWT_ALGORITHM=HS256 takes a shared secret, but this is a PEM key${hint}`)
    }
    const secret = Buffer.from(text.trim())
    if (secret.length < MIN_HMAC_SECRET_BYTES) {
      throw new ConfigError(`${source}: an HS256 secret needs at least ${MIN_HMAC_SECRET_BYTES} bytes`)
    }
    const kid = thumbprint({ kty: 'oct', k: secret.toString('base64url') })
    return { alg, kid, privateKey: secret, publicKey: secret, publicJwk: undefined }
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(text)
  } catch {
    throw new ConfigError(`${source}: not a PEM private key`)
  }
  assertKeyFits(alg, privateKey, source)
  const publicKey = createPublicKey(privateKey)
  const jwk = publicKey.export({ format: 'jwk' })
  const kid = thumbprint(jwk)
  return {
    alg,
    kid,
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    publicJwk: { ...jwk, kty: jwk.kty!, kid, alg, use: 'sig' }
  }
}

function assertKeyFits(alg: JwtAlgorithm, key: KeyObject, source: string): void {
  const type = key.asymmetricKeyType
  const details = key.asymmetricKeyDetails ?? {}
  const fits =
    (alg === 'ES256' && type === 'ec' && details.namedCurve === 'prime256v1') ||
    (alg === 'EdDSA' && type === 'ed25519') ||
    (alg === 'RS256' && type === 'rsa' && (details.modulusLength ?? 0) >= MIN_RSA_BITS)
  if (!fits) {
    const wanted = { ES256: 'an EC P-256 key', EdDSA: 'an Ed25519 key', RS256: `an RSA key of ${MIN_RSA_BITS} bits or more` }
    throw new ConfigError(`${source}: JWT_ALGORITHM=${alg} needs ${wanted[alg as keyof typeof wanted]}, got ${type}`)
  }
}

/** RFC 7638: SHA-256 over the required members, in lexicographic order, without white space. */
function thumbprint(jwk: JsonWebKey): string {
  const value = jwkThumbprint(jwk as Record<string, unknown>)
  if (value === undefined) throw new Error(`no RFC 7638 thumbprint for kty ${jwk.kty}`)
  return value
}

/**
 * The key from JWT_PRIVATE_KEY_FILE or, outside production, one generated once into DATA_DIR
 * (mode 0600) and reused after a restart. Replicas of one deployment must share a key file.
 */
export function loadSigningKey(config: Config): SigningKey {
  const alg = config.JWT_ALGORITHM
  if (config.JWT_PRIVATE_KEY_FILE !== undefined) {
    let text: string
    try {
      text = readFileSync(config.JWT_PRIVATE_KEY_FILE, 'utf8')
    } catch (error) {
      throw new ConfigError(`JWT_PRIVATE_KEY_FILE=${config.JWT_PRIVATE_KEY_FILE}: ${(error as Error).message}`)
    }
    return parseSigningKey(alg, text, `JWT_PRIVATE_KEY_FILE=${config.JWT_PRIVATE_KEY_FILE}`)
  }
  if (config.NODE_ENV === 'production') {
    throw new ConfigError('JWT_PRIVATE_KEY_FILE is required when NODE_ENV=production (generate one with `npm run keys`)')
  }
  const file = join(config.DATA_DIR, `signing-key.${alg.toLowerCase()}.pem`)
  mkdirSync(config.DATA_DIR, { recursive: true, mode: 0o700 })
  // Written aside, then linked into place: of two processes starting at once, one key wins whole
  // and the other reads it, never a half-written file.
  if (!existsSync(file)) {
    const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`
    writeFileSync(draft, generatePrivateKey(alg), { flag: 'wx', mode: 0o600 })
    try {
      linkSync(draft, file)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    } finally {
      unlinkSync(draft)
    }
  }
  return parseSigningKey(alg, readFileSync(file, 'utf8'), file)
}
