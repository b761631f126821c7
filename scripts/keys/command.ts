/**
 * `npm run keys`: writes a new signing key (PEM, or an HS256 secret) with mode 0600 for JWT_PRIVATE_KEY_FILE
 * or JWT_NEXT_KEY_FILE, never over an existing file, and prints its file, kid and public JWK (never the
 * private key) as JSON. The key lands under DATA_DIR unless --out names a directory; see USAGE.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { JwtAlgorithm } from '../../src/config.js'
import { generatePrivateKey, parseSigningKey } from '../../src/keys/signing-key.js'
import type { CommandIo } from '../cli.js'

const ALGORITHMS: JwtAlgorithm[] = ['ES256', 'EdDSA', 'RS256', 'HS256']

const USAGE = `usage: npm run -s keys -- [--alg ES256|EdDSA|RS256|HS256] [--out FILE]
  --alg   the algorithm (default ES256)
  --out   where to write the key: a bare file name lands in DATA_DIR (default ./data),
          a path with a directory (./next.pem, /etc/auth/next.pem) is used as is;
          default: DATA_DIR/signing-key-<kid>.pem
  --help  this text
The key file is written with mode 0600 and never over an existing file.`

/** Runs the command; the result is the process's exit code: 0 written, 2 bad input, 1 the file could not be written. */
export function runKeys(args: readonly string[], io: CommandIo): number {
  const usageError = (message: string): number => {
    io.err(`${message}\n${USAGE}`)
    return 2
  }
  let values: { alg?: string; out?: string; help?: boolean }
  try {
    ;({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: { alg: { type: 'string', default: 'ES256' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } }
    }))
  } catch (error) {
    return usageError((error as Error).message)
  }
  if (values.help === true) {
    io.out(USAGE)
    return 0
  }
  const alg = ALGORITHMS.find((name) => name.toLowerCase() === values.alg?.toLowerCase())
  if (alg === undefined) return usageError(`--alg must be one of ${ALGORITHMS.join(', ')}`)
  if (values.out === '') return usageError('--out needs a file name')

  const dataDir = io.environment().DATA_DIR || './data'
  const text = generatePrivateKey(alg)
  const key = parseSigningKey(alg, text, 'the new key')
  const inDataDir = values.out === undefined || basename(values.out) === values.out
  const file = inDataDir ? join(dataDir, values.out ?? `signing-key-${key.kid.slice(0, 12)}.pem`) : values.out!
  try {
    if (inDataDir) mkdirSync(resolve(io.cwd, dataDir), { recursive: true, mode: 0o700 })
    // 'wx': never overwrite a key that may still be signing tokens.
    writeFileSync(resolve(io.cwd, file), text, { flag: 'wx', mode: 0o600 })
  } catch (error) {
    io.err(`cannot write ${file}: ${(error as Error).message}`)
    return 1
  }
  io.out(JSON.stringify({ file, alg, kid: key.kid, public_jwk: key.publicJwk ?? null }, null, 2))
  return 0
}
