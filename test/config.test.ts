import { test } from 'tap'
import { ConfigError, loadConfig, meantSetting } from '../src/config.js'
import { trustedPeer, trustFunction } from '../src/settings/network.js'

test('defaults are the README settings table', async (t) => {
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
  t.equal(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 2001:db8::/32, ::1' }).TRUST_PROXY, '10.0.0.0/8,2001:db8::/32,::1')
  t.equal(loadConfig({ TRUST_PROXY: 'loopback' }).TRUST_PROXY, 'loopback', "proxy-addr's named ranges")
})

test('durations take seconds or a whole number with a unit; Config keeps seconds', async (t) => {
  const config = loadConfig({ ACCESS_TOKEN_TTL: '15m', SESSION_TTL: '14d', REFRESH_GRACE: '0s', CLIENT_TOKEN_TTL: '1h', RATE_LIMIT_WINDOW: '90' })
  t.match(config, { ACCESS_TOKEN_TTL: 900, SESSION_TTL: 1_209_600, REFRESH_GRACE: 0, CLIENT_TOKEN_TTL: 3600, RATE_LIMIT_WINDOW: 90 })
})

test('literal values are matched case-insensitively', async (t) => {
  t.equal(loadConfig({ JWT_ALGORITHM: 'es256' }).JWT_ALGORITHM, 'ES256')
  t.equal(loadConfig({ JWT_ALGORITHM: 'eddsa' }).JWT_ALGORITHM, 'EdDSA')
  t.equal(loadConfig({ LOG_LEVEL: 'WARN' }).LOG_LEVEL, 'warn')
})

test('CORS_ORIGINS, MANAGEMENT_PORT and DOCS', async (t) => {
  t.same(loadConfig({}).CORS_ORIGINS, [], 'no CORS by default')
  t.same(loadConfig({ CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' }).CORS_ORIGINS, ['https://app.example.com', 'http://localhost:5173'])
  t.equal(loadConfig({}).MANAGEMENT_PORT, undefined, 'no management listener by default')
  t.equal(loadConfig({ MANAGEMENT_PORT: '9100' }).MANAGEMENT_PORT, 9100)
  t.equal(loadConfig({}).DOCS, true)
  t.equal(loadConfig({ DOCS: 'false' }).DOCS, false)
  t.equal(loadConfig({ NODE_ENV: 'production', ISSUER: 'https://auth.example.com' }).ISSUER, 'https://auth.example.com')
})

const DURATION = /must be a duration: whole seconds \(900\) or a whole number with a unit s, m, h or d \(15m, 1h, 14d\)$/
const TRUST_PROXY = /^invalid setting TRUST_PROXY="[^"]*": must be true, false, a hop count/

/** Each row: the environment, and the whole message (the setting, the value, what it accepts). */
const bad: [string, Record<string, string>, RegExp][] = [
  ['a port that is not a number', { PORT: 'http' }, /^invalid setting PORT="http": must be a whole number from 0 to 65535$/],
  ['a port out of range', { PORT: '70000' }, /^invalid setting PORT="70000": must be a whole number from 0 to 65535$/],
  ['an unknown algorithm', { JWT_ALGORITHM: 'XYZ' }, /^invalid setting JWT_ALGORITHM="XYZ": must be one of ES256, EdDSA, RS256, HS256$/],
  ['alg none', { JWT_ALGORITHM: 'none' }, /JWT_ALGORITHM="none": must be one of ES256/],
  ['a zero token lifetime', { ACCESS_TOKEN_TTL: '0' }, /^invalid setting ACCESS_TOKEN_TTL="0": must be a duration from 1 to \d+ seconds$/],
  ['a zero token lifetime with a unit', { ACCESS_TOKEN_TTL: '0m' }, /ACCESS_TOKEN_TTL="0m": must be a duration from 1/],
  ['a fractional session lifetime', { SESSION_TTL: '1.5' }, /^invalid setting SESSION_TTL="1.5": must be a duration/],
  ['a fractional duration with a unit', { ACCESS_TOKEN_TTL: '1.5h' }, DURATION],
  ['a combined duration', { SESSION_TTL: '1h30m' }, DURATION],
  ['an unknown unit', { CLIENT_TOKEN_TTL: '2w' }, DURATION],
  ['a unit without a number', { REFRESH_GRACE: 's' }, DURATION],
  ['a negative grace', { REFRESH_GRACE: '-1' }, DURATION],
  ['a lifetime beyond ten years', { SESSION_TTL: '99999d' }, /SESSION_TTL="99999d": must be a duration from 1 to/],
  ['a malformed rate-limit window', { RATE_LIMIT_WINDOW: '1 minute' }, /RATE_LIMIT_WINDOW="1 minute": must be a duration/],
  ['TRUST_PROXY=yes', { TRUST_PROXY: 'yes' }, TRUST_PROXY],
  ['a CIDR prefix too long', { TRUST_PROXY: '10.0.0.0/33' }, TRUST_PROXY],
  ['an IPv6 prefix too long', { TRUST_PROXY: '::1/129' }, TRUST_PROXY],
  ['a host name as a proxy', { TRUST_PROXY: 'proxy.internal' }, TRUST_PROXY],
  ['a fractional hop count', { TRUST_PROXY: '1.5' }, TRUST_PROXY],
  ['a non-postgres DATABASE_URL', { DATABASE_URL: 'mysql://x' }, /^invalid setting DATABASE_URL="mysql:\/\/x": must be a postgres:\/\/ or postgresql:\/\/ URL$/],
  ['a non-redis REDIS_URL', { REDIS_URL: 'http://x' }, /REDIS_URL="http:\/\/x": must be a redis:\/\/ or rediss:\/\/ URL/],
  ['malformed cluster nodes', { REDIS_CLUSTER_NODES: 'a,b' }, /REDIS_CLUSTER_NODES="a,b": must be host:port/],
  ['sentinels without a name', { REDIS_SENTINELS: 'a:26379' }, /REDIS_SENTINEL_NAME/],
  ['an unknown log level', { LOG_LEVEL: 'loud' }, /LOG_LEVEL="loud": must be one of fatal, error, warn, info, debug, trace, silent/],
  ['production without ISSUER', { NODE_ENV: 'production' }, /^ISSUER is required when NODE_ENV=production/],
  ['a wildcard CORS origin', { CORS_ORIGINS: '*' }, /^invalid setting CORS_ORIGINS: "\*": no wildcard/],
  ['a wildcard among CORS origins', { CORS_ORIGINS: 'https://app.example.com,https://*.example.com' }, /CORS_ORIGINS: "https:\/\/\*.example.com": no wildcard/],
  ['a CORS origin with a path', { CORS_ORIGINS: 'https://app.example.com/' }, /CORS_ORIGINS: "https:\/\/app.example.com\/" is not an origin.*did you mean https:\/\/app.example.com\?/],
  ['a CORS origin without a scheme', { CORS_ORIGINS: 'app.example.com' }, /CORS_ORIGINS: "app.example.com" is not an origin/],
  ['a CORS origin in upper case', { CORS_ORIGINS: 'https://App.example.com' }, /did you mean https:\/\/app.example.com/],
  ['a CORS origin of another scheme', { CORS_ORIGINS: 'ftp://app.example.com' }, /CORS_ORIGINS: "ftp:\/\/app.example.com": an origin is http:\/\/ or https:\/\//],
  ['the null origin', { CORS_ORIGINS: 'null' }, /CORS_ORIGINS: "null" is not an origin/],
  ['MANAGEMENT_PORT equal to PORT', { PORT: '8080', MANAGEMENT_PORT: '8080' }, /^invalid setting MANAGEMENT_PORT="8080": must differ from PORT=8080/],
  ['MANAGEMENT_PORT equal to the default PORT', { MANAGEMENT_PORT: '3000' }, /MANAGEMENT_PORT="3000": must differ from PORT=3000/],
  ['a MANAGEMENT_PORT that is no port', { MANAGEMENT_PORT: 'metrics' }, /MANAGEMENT_PORT="metrics": must be a whole number from 1 to 65535/],
  ['ADMIN_TOKEN_FILE without MANAGEMENT_PORT', { ADMIN_TOKEN_FILE: '/run/secrets/admin' }, /^invalid setting ADMIN_TOKEN_FILE="\/run\/secrets\/admin": needs MANAGEMENT_PORT: the admin API answers only on the management port/],
  ['DOCS=no', { DOCS: 'no' }, /^invalid setting DOCS="no": must be true or false$/],
  ['an ISSUER with a query', { ISSUER: 'https://auth.example.com?x=1' }, /^invalid setting ISSUER="https:\/\/auth.example.com\?x=1": must have no query or fragment/],
  ['an ISSUER with an empty query', { ISSUER: 'https://auth.example.com/?' }, /ISSUER=.*: must have no query or fragment/],
  ['an ISSUER with a fragment', { ISSUER: 'https://auth.example.com/#top' }, /ISSUER=.*: must have no query or fragment/],
  ['an ISSUER with //', { ISSUER: 'https://auth.example.com//v1' }, /ISSUER=.*: must have no empty path segment/],
  ['an ISSUER that is no URL', { ISSUER: 'auth.example.com' }, /ISSUER="auth.example.com": must be an absolute URL/],
  ['an ISSUER of another scheme', { ISSUER: 'ftp://auth.example.com' }, /ISSUER=.*: must be an http or https URL/],
  ['the key given inline', { JWT_PRIVATE_KEY: 'x' }, /^unknown setting JWT_PRIVATE_KEY: did you mean JWT_PRIVATE_KEY_FILE\?/],
  ['a letter off', { DATABASE_URI: 'postgres://x' }, /^unknown setting DATABASE_URI: did you mean DATABASE_URL\?/],
  ['an underscore off', { LOGLEVEL: 'info' }, /did you mean LOG_LEVEL\?/],
  ['two letters off in a long name', { REFRESH_GRCAE: '5' }, /did you mean REFRESH_GRACE\?/],
  ['ACCESS_TOKEN_TTL over SESSION_TTL', { ACCESS_TOKEN_TTL: '30d', SESSION_TTL: '1d' }, /^invalid setting ACCESS_TOKEN_TTL="30d": longer than SESSION_TTL="1d"/],
  ['ACCESS_TOKEN_TTL over the default SESSION_TTL', { ACCESS_TOKEN_TTL: '15d' }, /ACCESS_TOKEN_TTL="15d": longer than SESSION_TTL="1209600"/],
  ['REFRESH_GRACE as long as ACCESS_TOKEN_TTL', { ACCESS_TOKEN_TTL: '60', REFRESH_GRACE: '1m' }, /^invalid setting REFRESH_GRACE="1m": not shorter than ACCESS_TOKEN_TTL="60"/],
  ['the default REFRESH_GRACE over a short ACCESS_TOKEN_TTL', { ACCESS_TOKEN_TTL: '5' }, /REFRESH_GRACE="10": not shorter than ACCESS_TOKEN_TTL="5"/]
]
for (const [description, env, message] of bad) {
  test(`refuses ${description}, naming the setting`, async (t) => {
    t.throws(() => loadConfig(env), ConfigError)
    t.throws(() => loadConfig(env), { message })
    t.throws(() => loadConfig(env), { message: /^[^\n]+$/ }, 'in one line')
  })
}

test('ISSUER loses its trailing slashes, and DEFAULT_AUDIENCE and APP_URL with it', async (t) => {
  const cases: [string, string][] = [['http://localhost:3058/', 'http://localhost:3058'], ['https://auth.example.com/v1//', 'https://auth.example.com/v1'], ['https://auth.example.com', 'https://auth.example.com']]
  for (const [given, expected] of cases) {
    const config = loadConfig({ ISSUER: given })
    t.equal(config.ISSUER, expected, given)
    t.equal(config.DEFAULT_AUDIENCE, expected, `${given}: DEFAULT_AUDIENCE defaults to it`)
    t.equal(config.APP_URL, expected)
  }
})

test('variables of other programs are not taken for misspelled settings', async (t) => {
  const others = ['POST', 'PATH', 'HOME', 'HOSTNAME', 'TERM', 'NODE_VERSION', 'NODE_OPTIONS', 'UV_THREADPOOL_SIZE', 'MALLOC_ARENA_MAX', 'REDIS_PORT', 'REDIS_SERVICE_HOST', 'SMTP_PORT', 'KUBERNETES_PORT', 'TEST_REDIS_URL']
  for (const name of others) t.equal(meantSetting(name), undefined, name)
  t.doesNotThrow(() => loadConfig(Object.fromEntries(others.map((name) => [name, 'x']))), 'and they boot')
  t.doesNotThrow(() => loadConfig({ JWT_PRIVATE_KEY: '' }), 'an empty variable is not set')
  t.doesNotThrow(() => loadConfig({ REFRESH_GRACE: '0', ACCESS_TOKEN_TTL: '1' }), 'no grace with the shortest token')
})

test('TRUST_PROXY as a trust function: which hops are proxies, and whether the immediate peer is one', async (t) => {
  const cases: [string, boolean | number | string, string, number, boolean][] = [
    ['false trusts nobody', false, '127.0.0.1', 0, false],
    ['true trusts every hop', true, '203.0.113.9', 3, true],
    ['a hop count of 1: the nearest hop', 1, '203.0.113.9', 0, true],
    ['a hop count of 1: not the next', 1, '203.0.113.9', 1, false],
    ['a hop count of 0: nobody', 0, '127.0.0.1', 0, false],
    ['a list: an address in a range', '10.0.0.0/8,192.0.2.7', '10.1.2.3', 0, true],
    ['a list: an address outside it', '10.0.0.0/8,192.0.2.7', '192.0.2.8', 0, false],
    ['a named range', 'loopback', '127.0.0.1', 0, true],
    ['a named range, another address', 'loopback', '198.51.100.1', 0, false]
  ]
  for (const [description, setting, address, hop, trusted] of cases) {
    t.equal(trustFunction(setting)(address, hop), trusted, description)
    if (hop === 0) t.equal(trustedPeer(setting)(address), trusted, `${description} (the immediate peer)`)
  }
})
