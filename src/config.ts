import Type, { type Static } from 'typebox'
import { Value } from 'typebox/value'
import { isResourceIndicator } from './schemas/clients.js'
import { MAX_ACTOR_DEPTH } from '@jwt-auth-service/verifier/feed'
import { parseOrigins, parseTrustProxy, TRUST_PROXY_SYNTAX } from './settings/network.js'
import { describeProblem, prepareValue, type SettingSchema } from './settings/values.js'

/**
 * The environment, as the README's "Settings" table names it. Every value arrives as a string;
 * typebox converts, fills defaults and validates in one place, at boot. Two options of our own shape
 * the error messages: `duration` (the value may carry a unit, kept as seconds) and `expected` (what a
 * pattern means, in words).
 */
const HOST_PORT_LIST = '^[^:,\\s]+:\\d+(,[^:,\\s]+:\\d+)*$'
/** Beyond any token or session lifetime; keeps millisecond arithmetic and Redis expiries in range. */
const TEN_YEARS = 10 * 365 * 86_400

export const EnvironmentSchema = Type.Object({
  NODE_ENV: Type.String({ default: 'development' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  DATA_DIR: Type.String({ minLength: 1, default: './data' }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://', expected: 'a postgres:// or postgresql:// URL' })),
  /**
   * The PostgreSQL schema of the service's tables and its schema_migrations (created if missing): a
   * plain lowercase SQL identifier, not pg_* (reserved by PostgreSQL).
   */
  DATABASE_SCHEMA: Type.String({
    pattern: '^(?!pg_)[a-z_][a-z0-9_]{0,62}$',
    default: 'jwt_auth',
    expected: 'a lowercase SQL identifier (letters, digits, _; at most 63; not pg_…)'
  }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://', expected: 'a redis:// or rediss:// URL' })),
  REDIS_CLUSTER_NODES: Type.Optional(Type.String({ pattern: HOST_PORT_LIST, expected: 'host:port,host:port,…' })),
  REDIS_SENTINELS: Type.Optional(Type.String({ pattern: HOST_PORT_LIST, expected: 'host:port,host:port,…' })),
  REDIS_SENTINEL_NAME: Type.Optional(Type.String({ minLength: 1 })),
  /**
   * The password of the Redis data nodes (AUTH), for REDIS_SENTINELS and REDIS_CLUSTER_NODES, which have no URL to
   * carry it (with REDIS_URL, when the URL has none); and the sentinels' own. Never logged.
   */
  REDIS_PASSWORD: Type.Optional(Type.String({ minLength: 1 })),
  REDIS_SENTINEL_PASSWORD: Type.Optional(Type.String({ minLength: 1 })),
  /** Namespaces every Redis key, so that several deployments (or test files) can share one Redis. */
  REDIS_KEY_PREFIX: Type.String({ default: 'jwt:' }),
  /** A Redis command that takes longer than this fails, and the request gets 503 instead of hanging. */
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 50, maximum: 60000, default: 1000 }),
  /**
   * Revoking writes (refresh, logout, session ends) wait for this many replicas (Redis WAIT) before
   * they are acknowledged, so that an acknowledged revocation survives a failover. 0: no wait.
   */
  REDIS_WAIT_REPLICAS: Type.Integer({ minimum: 0, maximum: 16, default: 0 }),
  REDIS_WAIT_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 60000, default: 500 }),
  /** Attempts per RATE_LIMIT_WINDOW seconds; with Redis the counts hold across instances. */
  RATE_LIMIT_WINDOW: Type.Integer({ minimum: 1, maximum: TEN_YEARS, default: 60, duration: true }),
  /** Failed logins per account *and* address, then 429: a guesser cannot lock the owner out from elsewhere. */
  RATE_LIMIT_LOGIN_PER_ACCOUNT: Type.Integer({ minimum: 1, default: 10 }),
  /** Failed logins per account from all addresses together: the ceiling on distributed guessing (OWASP). */
  RATE_LIMIT_LOGIN_FAILURES_PER_ACCOUNT: Type.Integer({ minimum: 1, default: 1000 }),
  RATE_LIMIT_LOGIN_PER_IP: Type.Integer({ minimum: 1, default: 100 }),
  RATE_LIMIT_REGISTER_PER_IP: Type.Integer({ minimum: 1, default: 20 }),
  RATE_LIMIT_PASSWORD_PER_USER: Type.Integer({ minimum: 1, default: 10 }),
  /** Grants per authenticated client (counted after authentication). */
  RATE_LIMIT_TOKEN_PER_CLIENT: Type.Integer({ minimum: 1, default: 1200 }),
  /** Failed client authentications per client id *and* address (token, introspect, revoke), then 429. */
  RATE_LIMIT_CLIENT_AUTH_FAILURES: Type.Integer({ minimum: 1, default: 20 }),
  /** Mails (password reset, email verification) per email address, and per client address, per RATE_LIMIT_WINDOW. */
  RATE_LIMIT_MAIL_PER_EMAIL: Type.Integer({ minimum: 1, default: 5 }),
  RATE_LIMIT_MAIL_PER_IP: Type.Integer({ minimum: 1, default: 20 }),
  /** The mail transport (nodemailer): smtp://user:pass@host:587, smtps://… Without it, mails go to the log in development and the mail endpoints answer 503 in production. */
  SMTP_URL: Type.Optional(Type.String({ pattern: '^smtps?://', expected: 'an smtp:// or smtps:// URL' })),
  /** The sender of the service's mails; `jwt-auth-service <no-reply@host of APP_URL>` by default. */
  MAIL_FROM: Type.Optional(Type.String({ minLength: 3, maxLength: 320 })),
  /** Where the mails' links point (`${APP_URL}/reset-password?token=…`, `${APP_URL}/verify-email?token=…`); ISSUER by default. */
  APP_URL: Type.Optional(Type.String({ pattern: '^https?://', expected: 'an http:// or https:// URL' })),
  PASSWORD_RESET_TTL: Type.Integer({ minimum: 60, maximum: TEN_YEARS, default: 3600, duration: true }),
  EMAIL_VERIFICATION_TTL: Type.Integer({ minimum: 60, maximum: TEN_YEARS, default: 86400, duration: true }),
  /** Login of an account whose email is not verified: 403 EMAIL_NOT_VERIFIED. */
  REQUIRE_VERIFIED_EMAIL: Type.Boolean({ default: false }),
  ISSUER: Type.Optional(Type.String({ minLength: 1 })),
  /** `aud` of user tokens and of client tokens that name no resource; what /auth/verify expects by default. */
  DEFAULT_AUDIENCE: Type.Optional(Type.String({ minLength: 1 })),
  JWT_ALGORITHM: Type.Union(
    [Type.Literal('ES256'), Type.Literal('EdDSA'), Type.Literal('RS256'), Type.Literal('HS256')],
    { default: 'ES256' }
  ),
  JWT_PRIVATE_KEY_FILE: Type.Optional(Type.String({ minLength: 1 })),
  /** Key rotation: the key that will sign next, published in the JWKS (and accepted) before it signs. */
  JWT_NEXT_KEY_FILE: Type.Optional(Type.String({ minLength: 1 })),
  /** Key rotation: comma-separated retired keys, published and accepted until their tokens have expired. */
  JWT_RETIRED_KEY_FILES: Type.Optional(Type.String({ minLength: 1 })),
  ACCESS_TOKEN_TTL: Type.Integer({ minimum: 1, maximum: TEN_YEARS, default: 3600, duration: true }),
  SESSION_TTL: Type.Integer({ minimum: 1, maximum: TEN_YEARS, default: 1209600, duration: true }),
  REFRESH_GRACE: Type.Integer({ minimum: 0, maximum: TEN_YEARS, default: 10, duration: true }),
  /**
   * Live sessions per user: a login at the cap first ends the user's least recently refreshed session.
   * Also what bounds the work of listing and ending a user's sessions.
   */
  /**
   * How long after its `exp` a user token may still be refreshed (never used elsewhere), while it is its
   * session's current token and the session is alive; 0: an expired token is 401, as the seed's.
   */
  REFRESH_AFTER_EXPIRY: Type.Integer({ minimum: 0, maximum: TEN_YEARS, default: 0, duration: true }),
  MAX_SESSIONS_PER_USER: Type.Integer({ minimum: 1, maximum: 10000, default: 100 }),
  CLIENT_TOKEN_TTL: Type.Integer({ minimum: 1, maximum: TEN_YEARS, default: 900, duration: true }),
  /** Token exchange (RFC 8693): a subject token whose `act` chain is this deep already is not exchanged again. */
  TOKEN_EXCHANGE_MAX_DEPTH: Type.Integer({ minimum: 1, maximum: MAX_ACTOR_DEPTH, default: 3 }),
  /** private_key_jwt: how far ahead of now an assertion's `exp` may be (RFC 7523 §3); its `jti` is remembered that long. */
  CLIENT_ASSERTION_MAX_AGE: Type.Integer({ minimum: 10, maximum: 3600, default: 300, duration: true }),
  /** Workload identity: the longest lifetime (`exp` − `iat`) of a federated token presented as a client's credential. */
  FEDERATED_ASSERTION_MAX_LIFETIME: Type.Integer({ minimum: 60, maximum: 30 * 86_400, default: 86_400, duration: true }),
  /** DPoP (RFC 9449): how old a proof's `iat` may be; its `jti` is remembered, in the shared store, that long. */
  DPOP_PROOF_MAX_AGE: Type.Integer({ minimum: 5, maximum: 600, default: 60, duration: true }),
  /** DPoP: when true, a login without a proof is refused, so that every user token is bound to a key. */
  DPOP_REQUIRED: Type.Boolean({ default: false }),
  /**
   * DPoP: when true, every proof must carry a recent nonce of this service's (RFC 9449 §8, §9); a proof without one
   * is refused with `use_dpop_nonce` and the nonce to use in `DPoP-Nonce`.
   */
  DPOP_NONCE: Type.Boolean({ default: false }),
  /**
   * strict: the revocation state from the store on every check; replicated: from the in-memory replica
   * that the revocation feed keeps (Redis only), strict again while it may be older than REVOCATION_MAX_LAG_MS.
   */
  REVOCATION_CHECK: Type.Union([Type.Literal('strict'), Type.Literal('replicated')], { default: 'strict' }),
  REVOCATION_MAX_LAG_MS: Type.Integer({ minimum: 20, maximum: 60000, default: 250 }),
  TRUST_PROXY: Type.String({ default: 'false' }),
  /** Origins whose pages may call the API, the JWKS and the discovery document (CORS); none by default. */
  CORS_ORIGINS: Type.Optional(Type.String()),
  /** A second listener for /metrics and the health probes, which then leave the public port. */
  MANAGEMENT_PORT: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  /** With MANAGEMENT_PORT: a file holding the bearer token of the admin API (/admin/*, on that port only); unset, no admin API. */
  ADMIN_TOKEN_FILE: Type.Optional(Type.String({ minLength: 1 })),
  /** Strict-Transport-Security's max-age on every answer (RFC 6797); unset: none, as TLS usually ends before the service. */
  HSTS_MAX_AGE: Type.Optional(Type.Integer({ minimum: 1, maximum: TEN_YEARS, duration: true })),
  /** The OpenAPI UI and document (/docs, /docs/json). */
  DOCS: Type.Boolean({ default: true }),
  /** On SIGTERM, /health/ready answers 503 this long before the server stops accepting, so that load balancers drain it. */
  SHUTDOWN_DRAIN_SECONDS: Type.Integer({ minimum: 0, maximum: 300, default: 5 }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info' }
  )
})

type Environment = Static<typeof EnvironmentSchema>

export type JwtAlgorithm = Environment['JWT_ALGORITHM']

export type Config = Omit<Environment, 'ISSUER' | 'DEFAULT_AUDIENCE' | 'TRUST_PROXY' | 'CORS_ORIGINS' | 'APP_URL' | 'MAIL_FROM'> & {
  ISSUER: string
  /** Without a trailing slash. */
  APP_URL: string
  MAIL_FROM: string
  DEFAULT_AUDIENCE: string
  /** Fastify's `trustProxy`: a boolean, a hop count, or a list of addresses and CIDR ranges. */
  TRUST_PROXY: boolean | number | string
  /** Exact origins (`https://app.example.com`); empty: no CORS at all. */
  CORS_ORIGINS: string[]
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Reads `.env` (if there is one) into process.env without overriding what is already set. */
export function loadDotEnv(path = '.env'): void {
  try {
    process.loadEnvFile(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
}

/** Levenshtein distance, given up past `limit` (its result is then limit + 1). */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    if (Math.min(...current) > limit) return limit + 1
    previous = current
  }
  return previous[b.length]!
}

const SETTING_NAMES = Object.keys(EnvironmentSchema.properties)

/**
 * The setting a variable that is not one was probably meant as: one or two letters off (one below ten letters,
 * none below six), or the setting without its `_FILE` (a key given inline, where only a file is read). Variables of other programs
 * (PATH, HOSTNAME, Kubernetes' service links) are further from every setting than that.
 */
export function meantSetting(name: string): string | undefined {
  if (!/^[A-Z][A-Z0-9_]{3,}$/.test(name) || SETTING_NAMES.includes(name)) return undefined
  const file = SETTING_NAMES.find((setting) => setting === `${name}_FILE`)
  // Short names are too close to too many words (POST, PATH): only longer ones are compared letter by letter.
  if (file !== undefined || name.length < 6) return file
  const limit = name.length >= 10 ? 2 : 1
  return SETTING_NAMES.find((setting) => editDistance(name, setting, limit) <= limit)
}

/**
 * ISSUER as every advertised URL is built on it (`${ISSUER}/.well-known/jwks.json`): without trailing slashes, and
 * refused with a query, a fragment or an empty path segment, which no URL built on it could carry (RFC 8414 §2).
 */
function normalizedIssuer(text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw refused('ISSUER', text, 'must be an absolute URL, e.g. https://auth.example.com')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refused('ISSUER', text, 'must be an http or https URL')
  if (text.includes('?') || text.includes('#')) throw refused('ISSUER', text, 'must have no query or fragment (RFC 8414 §2)')
  const issuer = text.replace(/\/+$/, '')
  if (new URL(issuer).pathname.includes('//')) throw refused('ISSUER', text, 'must have no empty path segment (//)')
  return issuer
}

const refused = (name: string, text: string | undefined, reason: string): ConfigError =>
  new ConfigError(`invalid setting ${name}=${JSON.stringify(text)}: ${reason}`)

/** The settings that are set (an empty variable, `FOO=` in a .env, means "not set"), as typebox should read them. */
function presentSettings(env: Record<string, string | undefined>): Record<string, string> {
  const present: Record<string, string> = {}
  for (const [name, schema] of Object.entries(EnvironmentSchema.properties)) {
    const text = env[name]
    if (text === undefined || text === '') continue
    const value = prepareValue(schema as SettingSchema, text)
    if (typeof value !== 'string') throw refused(name, text, value.reason)
    present[name] = value
  }
  return present
}

/**
 * Validates the environment and returns the typed configuration. A bad value throws a ConfigError
 * whose one-line message names the setting and what it accepts, so that the process stops at boot.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  for (const name of Object.keys(env)) {
    const meant = env[name] === undefined || env[name] === '' ? undefined : meantSetting(name)
    if (meant !== undefined) throw new ConfigError(`unknown setting ${name}: did you mean ${meant}? (README, "Settings")`)
  }
  const parsed = Value.Default(EnvironmentSchema, Value.Convert(EnvironmentSchema, presentSettings(env)))
  const messages = new Map<string, string>()
  for (const problem of Value.Errors(EnvironmentSchema, parsed)) {
    const name = problem.instancePath.replace(/^\//, '')
    const schema = EnvironmentSchema.properties[name as keyof Environment] as SettingSchema
    if (!messages.has(name)) messages.set(name, `${name}=${JSON.stringify(env[name])}: ${describeProblem(schema, problem)}`)
  }
  if (messages.size > 0) throw new ConfigError(`invalid setting ${[...messages.values()].join('; ')}`)
  const environment = parsed as Environment

  if (environment.REDIS_SENTINELS !== undefined && environment.REDIS_SENTINEL_NAME === undefined) {
    throw new ConfigError('invalid setting REDIS_SENTINEL_NAME: required when REDIS_SENTINELS is set')
  }
  // A production token must name the public URL: http://localhost would be wrong in every client's check.
  if (environment.NODE_ENV === 'production' && environment.ISSUER === undefined) {
    throw new ConfigError('ISSUER is required when NODE_ENV=production: the public URL of the service, e.g. https://auth.example.com')
  }
  const hasRedis = environment.REDIS_URL !== undefined || environment.REDIS_SENTINELS !== undefined || environment.REDIS_CLUSTER_NODES !== undefined
  if (environment.REVOCATION_CHECK === 'replicated' && !hasRedis) {
    throw new ConfigError('invalid setting REVOCATION_CHECK="replicated": the revocation feed needs Redis (set REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES), or use REVOCATION_CHECK=strict')
  }
  // A duration as the operator wrote it ("30d"), or its default in seconds.
  const written = (name: 'ACCESS_TOKEN_TTL' | 'SESSION_TTL' | 'REFRESH_GRACE') => `${name}=${JSON.stringify(env[name] ?? String(environment[name]))}`
  if (environment.ACCESS_TOKEN_TTL > environment.SESSION_TTL) {
    throw new ConfigError(`invalid setting ${written('ACCESS_TOKEN_TTL')}: longer than ${written('SESSION_TTL')} (every token would be cut short at its session's end)`)
  }
  if (environment.REFRESH_GRACE > 0 && environment.REFRESH_GRACE >= environment.ACCESS_TOKEN_TTL) {
    throw new ConfigError(`invalid setting ${written('REFRESH_GRACE')}: not shorter than ${written('ACCESS_TOKEN_TTL')} (a rotated token would stay usable as long as a new one)`)
  }
  const issuer = environment.ISSUER === undefined ? `http://localhost:${environment.PORT}` : normalizedIssuer(environment.ISSUER)
  const audience = environment.DEFAULT_AUDIENCE ?? issuer
  if (!isResourceIndicator(audience)) {
    const setting = environment.DEFAULT_AUDIENCE === undefined ? `ISSUER=${JSON.stringify(issuer)} (DEFAULT_AUDIENCE defaults to it)` : `DEFAULT_AUDIENCE=${JSON.stringify(audience)}`
    throw new ConfigError(`invalid setting ${setting}: must be an absolute URI without a fragment (RFC 8707)`)
  }
  const trustProxy = parseTrustProxy(environment.TRUST_PROXY)
  if (trustProxy === undefined) throw refused('TRUST_PROXY', env.TRUST_PROXY, `must be ${TRUST_PROXY_SYNTAX}`)
  if (environment.MANAGEMENT_PORT !== undefined && environment.MANAGEMENT_PORT === environment.PORT) {
    throw refused('MANAGEMENT_PORT', env.MANAGEMENT_PORT, `must differ from PORT=${environment.PORT}: it moves /metrics and the health probes off the public port`)
  }
  if (environment.ADMIN_TOKEN_FILE !== undefined && environment.MANAGEMENT_PORT === undefined) {
    throw refused('ADMIN_TOKEN_FILE', env.ADMIN_TOKEN_FILE, 'needs MANAGEMENT_PORT: the admin API answers only on the management port, never on the public one')
  }
  if (environment.NODE_ENV === 'production' && environment.REQUIRE_VERIFIED_EMAIL && environment.SMTP_URL === undefined) {
    throw new ConfigError('invalid setting REQUIRE_VERIFIED_EMAIL=true: no account could verify its email without SMTP_URL in production, so none could log in')
  }
  const appUrl = (environment.APP_URL ?? issuer).replace(/\/+$/, '')
  let appHost: string
  try {
    appHost = new URL(appUrl).hostname
  } catch {
    throw new ConfigError(`invalid setting ${environment.APP_URL === undefined ? 'ISSUER' : 'APP_URL'}=${JSON.stringify(appUrl)}: the mails' links need an absolute URL`)
  }
  return {
    ...environment,
    APP_URL: appUrl,
    MAIL_FROM: environment.MAIL_FROM ?? `jwt-auth-service <no-reply@${appHost}>`,
    ISSUER: issuer,
    DEFAULT_AUDIENCE: audience,
    TRUST_PROXY: trustProxy,
    CORS_ORIGINS: corsOrigins(environment.CORS_ORIGINS)
  }
}

function corsOrigins(text: string | undefined): string[] {
  try {
    return text === undefined ? [] : parseOrigins(text)
  } catch (error) {
    throw new ConfigError(`invalid setting CORS_ORIGINS: ${(error as Error).message}`)
  }
}
