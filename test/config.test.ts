import { test } from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'

test('defaults are SPEC.md settings table', async (t) => {
  const config = loadConfig({})
  t.match(config, {
    PORT: 3000,
    HOST: '127.0.0.1',
    DATA_DIR: './data',
    ISSUER: 'http://localhost:3000',
    JWT_ALGORITHM: 'ES256',
    ACCESS_TOKEN_TTL: 3600,
    SESSION_TTL: 1209600,
    REFRESH_GRACE: 10,
    CLIENT_TOKEN_TTL: 900,
    TRUST_PROXY: false,
    LOG_LEVEL: 'info'
  })
  t.equal(config.DATABASE_URL, undefined, 'embedded SQLite unless DATABASE_URL is set')
  t.equal(config.REDIS_URL, undefined, 'embedded revocations unless REDIS_URL is set')
})

test('values are converted, and ISSUER follows PORT', async (t) => {
  const config = loadConfig({ PORT: '8080', ACCESS_TOKEN_TTL: '60', JWT_ALGORITHM: 'EdDSA', DATABASE_URL: '' })
  t.equal(config.PORT, 8080)
  t.equal(config.ACCESS_TOKEN_TTL, 60)
  t.equal(config.ISSUER, 'http://localhost:8080')
  t.equal(config.DATABASE_URL, undefined, 'an empty variable means unset')
})

test('TRUST_PROXY takes Fastify trustProxy values', async (t) => {
  t.equal(loadConfig({ TRUST_PROXY: 'true' }).TRUST_PROXY, true)
  t.equal(loadConfig({ TRUST_PROXY: '2' }).TRUST_PROXY, 2)
  t.equal(loadConfig({ TRUST_PROXY: '10.0.0.0/8,127.0.0.1' }).TRUST_PROXY, '10.0.0.0/8,127.0.0.1')
})

const bad: [string, Record<string, string>, RegExp][] = [
  ['a port that is not a number', { PORT: 'http' }, /PORT/],
  ['a port out of range', { PORT: '70000' }, /PORT/],
  ['an unknown algorithm', { JWT_ALGORITHM: 'none' }, /JWT_ALGORITHM/],
  ['a zero token lifetime', { ACCESS_TOKEN_TTL: '0' }, /ACCESS_TOKEN_TTL/],
  ['a fractional session lifetime', { SESSION_TTL: '1.5' }, /SESSION_TTL/],
  ['a negative grace', { REFRESH_GRACE: '-1' }, /REFRESH_GRACE/],
  ['a non-postgres DATABASE_URL', { DATABASE_URL: 'mysql://x' }, /DATABASE_URL/],
  ['a non-redis REDIS_URL', { REDIS_URL: 'http://x' }, /REDIS_URL/],
  ['malformed cluster nodes', { REDIS_CLUSTER_NODES: 'a,b' }, /REDIS_CLUSTER_NODES/],
  ['sentinels without a name', { REDIS_SENTINELS: 'a:26379' }, /REDIS_SENTINEL_NAME/],
  ['an unknown log level', { LOG_LEVEL: 'loud' }, /LOG_LEVEL/]
]
for (const [description, env, setting] of bad) {
  test(`refuses ${description}, naming the setting`, async (t) => {
    t.throws(() => loadConfig(env), ConfigError)
    t.throws(() => loadConfig(env), { message: setting })
  })
}
