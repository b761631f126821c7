import { readFileSync } from 'node:fs'
import { ConfigError, type Config } from '../config.js'
import { algorithmOf, loadSigningKey, parseSigningKey, type PublicJwk, type SigningKey } from './signing-key.js'

/**
 * The keys of a deployment: the one that signs, the next one (published before it signs) and the
 * retired ones (kept until every token they signed has expired). All of them verify, so that during a
 * rolling restart an instance on the old settings accepts what one on the new settings signed.
 */
export interface KeySet {
  signing: SigningKey
  /** Every key that verifies, by kid. */
  byKid: Map<string, SigningKey>
  /** RFC 7517: the public keys of all of them. */
  jwks: { keys: PublicJwk[] }
}

function readKey(setting: string, file: string): SigningKey {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new ConfigError(`${setting}=${file}: ${(error as Error).message}`)
  }
  const source = `${setting}=${file}`
  return parseSigningKey(algorithmOf(text, source), text, source)
}

export function loadKeySet(config: Config): KeySet {
  const signing = loadSigningKey(config)
  const others: SigningKey[] = []
  if (config.JWT_NEXT_KEY_FILE !== undefined) others.push(readKey('JWT_NEXT_KEY_FILE', config.JWT_NEXT_KEY_FILE))
  for (const file of (config.JWT_RETIRED_KEY_FILES ?? '').split(',').map((f) => f.trim()).filter(Boolean)) {
    others.push(readKey('JWT_RETIRED_KEY_FILES', file))
  }
  const byKid = new Map<string, SigningKey>([[signing.kid, signing]])
  for (const key of others) if (!byKid.has(key.kid)) byKid.set(key.kid, key)
  const keys = [...byKid.values()].flatMap((key) => (key.publicJwk === undefined ? [] : [key.publicJwk]))
  return { signing, byKid, jwks: { keys } }
}
