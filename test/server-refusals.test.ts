import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'tap'
import { generatePrivateKey } from '../src/keys/signing-key.js'
import { freePort, REDIS_URL } from './helper.js'
import { expectRefusals, type Refusal } from './process.js'

// A boot the settings make impossible ends at once, with one line that names the setting. A file of its
// own: each case is a process that spends its time loading modules, so they run two at once.

/** An EC key file, for the HS256 row: a PEM key long enough to pass for a secret. */
function pemKeyFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'server-test-')), 'es256.pem')
  writeFileSync(file, generatePrivateKey('ES256'), { mode: 0o600 })
  return file
}

const refusals: Refusal[] = [
  ['a bad setting', async () => ({ PORT: 'eighty' }), /PORT="eighty": must be a whole number from 0 to 65535/],
  ['an unknown algorithm', async () => ({ JWT_ALGORITHM: 'XYZ' }), /JWT_ALGORITHM="XYZ": must be one of ES256, EdDSA, RS256, HS256/],
  ['TRUST_PROXY=yes (not a stack trace from proxy-addr)', async () => ({ TRUST_PROXY: 'yes' }), /TRUST_PROXY="yes": must be true, false, a hop count/],
  ['a malformed duration', async () => ({ ACCESS_TOKEN_TTL: '1.5h' }), /ACCESS_TOKEN_TTL="1.5h": must be a duration/],
  ['a wildcard CORS origin', async () => ({ CORS_ORIGINS: '*' }), /CORS_ORIGINS: "\*": no wildcard/],
  ['the management port on the public port', async () => ({ PORT: '4000', MANAGEMENT_PORT: '4000' }), /MANAGEMENT_PORT="4000": must differ from PORT=4000/],
  ['production without ISSUER', async () => ({ NODE_ENV: 'production' }), /ISSUER is required when NODE_ENV=production/],
  ['production without a key file', async () => ({ NODE_ENV: 'production', ISSUER: 'https://auth.example.com' }), /JWT_PRIVATE_KEY_FILE/],
  ['HS256 pointed at a PEM key', async () => ({ JWT_ALGORITHM: 'HS256', JWT_PRIVATE_KEY_FILE: pemKeyFile() }), /JWT_PRIVATE_KEY_FILE=.*: JWT_ALGORITHM=HS256 takes a shared secret, but this is a PEM key; for this key set JWT_ALGORITHM=ES256/],
  [
    'an unreachable DATABASE_URL (without its password)',
    async () => ({ DATABASE_URL: `postgres://service:hunter2@127.0.0.1:${await freePort()}/auth` }),
    /DATABASE_URL=postgres:\/\/service:redacted@127\.0\.0\.1:\d+\/auth: cannot connect to PostgreSQL \(connect ECONNREFUSED/
  ],
  ['a port in use', async () => ({ PORT: new URL(REDIS_URL).port || '6379' }), /PORT=\d+ on HOST=127.0.0.1: cannot listen \(EADDRINUSE\)/]
]
test('refuses to start with a bad setting: one line naming the setting, exit 1', async (t) => expectRefusals(t, refusals))
