/**
 * `npm run keys -- [--alg ES256|EdDSA|RS256|HS256] [--out FILE]`
 * Writes a new signing key (PEM, or an HS256 secret) with mode 0600 for JWT_PRIVATE_KEY_FILE,
 * and prints its kid and public JWK (never the private key) as JSON.
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { JwtAlgorithm } from '../src/config.js'
import { generatePrivateKey, parseSigningKey } from '../src/keys/signing-key.js'

const ALGORITHMS: JwtAlgorithm[] = ['ES256', 'EdDSA', 'RS256', 'HS256']

const { values } = parseArgs({
  options: { alg: { type: 'string', default: 'ES256' }, out: { type: 'string', default: 'signing-key.pem' } }
})
const alg = values.alg as JwtAlgorithm
if (!ALGORITHMS.includes(alg)) {
  console.error(`--alg must be one of ${ALGORITHMS.join(', ')}`)
  process.exit(2)
}

const text = generatePrivateKey(alg)
try {
  // 'wx': never overwrite a key that may still be signing tokens.
  writeFileSync(values.out, text, { flag: 'wx', mode: 0o600 })
} catch (error) {
  console.error(`cannot write ${values.out}: ${(error as Error).message}`)
  process.exit(1)
}
const key = parseSigningKey(alg, text, values.out)
console.log(JSON.stringify({ file: values.out, alg, kid: key.kid, public_jwk: key.publicJwk ?? null }, null, 2))
