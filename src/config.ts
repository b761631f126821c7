import Type, { type Static } from 'typebox'
import { Value } from 'typebox/value'
import { isResourceIndicator } from './schemas/clients.js'

/**
 * The environment, as SPEC.md's settings table names it. Every value arrives as a string;
 * typebox converts, fills defaults and validates in one place, at boot.
 */
export const EnvironmentSchema = Type.Object({
  NODE_ENV: Type.String({ default: 'development' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  DATA_DIR: Type.String({ minLength: 1, default: './data' }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  /**
   * The PostgreSQL schema of the service's tables and its schema_migrations (created if missing): a
   * plain lowercase SQL identifier, not pg_* (reserved by PostgreSQL).
   */
  DATABASE_SCHEMA: Type.String({ pattern: '^(?!pg_)[a-z_][a-z0-9_]{0,62}$', default: 'jwt_auth' }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  REDIS_CLUSTER_NODES: Type.Optional(Type.String({ pattern: '^[^:,\\s]+:\\d+(,[^:,\\s]+:\\d+)*$' })),
  REDIS_SENTINELS: Type.Optional(Type.String({ pattern: '^[^:,\\s]+:\\d+(,[^:,\\s]+:\\d+)*$' })),
  REDIS_SENTINEL_NAME: Type.Optional(Type.String({ minLength: 1 })),
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
  RATE_LIMIT_WINDOW: Type.Integer({ minimum: 1, default: 60 }),
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
  ACCESS_TOKEN_TTL: Type.Integer({ minimum: 1, default: 3600 }),
  SESSION_TTL: Type.Integer({ minimum: 1, default: 1209600 }),
  REFRESH_GRACE: Type.Integer({ minimum: 0, default: 10 }),
  /**
   * Live sessions per user: a login at the cap first ends the user's least recently refreshed session.
   * Also what bounds the work of listing and ending a user's sessions.
   */
  MAX_SESSIONS_PER_USER: Type.Integer({ minimum: 1, maximum: 10000, default: 100 }),
  CLIENT_TOKEN_TTL: Type.Integer({ minimum: 1, default: 900 }),
  TRUST_PROXY: Type.String({ default: 'false' }),
  /** On SIGTERM, /health/ready answers 503 this long before the server stops accepting, so that load balancers drain it. */
  SHUTDOWN_DRAIN_SECONDS: Type.Integer({ minimum: 0, maximum: 300, default: 5 }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info' }
  )
})

type Environment = Static<typeof EnvironmentSchema>

export type JwtAlgorithm = Environment['JWT_ALGORITHM']

export type Config = Omit<Environment, 'ISSUER' | 'DEFAULT_AUDIENCE' | 'TRUST_PROXY'> & {
  ISSUER: string
  DEFAULT_AUDIENCE: string
  /** Fastify's `trustProxy`: a boolean, a hop count, or a list of addresses and CIDR ranges. */
  TRUST_PROXY: boolean | number | string
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

/**
 * Validates the environment and returns the typed configuration.
 * A bad value throws a ConfigError whose message names the setting, so that the process stops at boot.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known: Record<string, string> = {}
  for (const name of Object.keys(EnvironmentSchema.properties)) {
    const value = env[name]
    // An empty variable (`FOO=` in a .env) means "not set", not "set to nothing".
    if (value !== undefined && value !== '') known[name] = value
  }
  // typebox would truncate "1.5" to 1; a setting that is not a whole number is refused instead.
  for (const [name, value] of Object.entries(known)) {
    const schema = EnvironmentSchema.properties[name as keyof Environment] as { type?: string }
    if (schema.type === 'integer' && !/^-?\d+$/.test(value)) {
      throw new ConfigError(`invalid setting ${name}=${JSON.stringify(value)}: must be a whole number`)
    }
  }
  const parsed = Value.Default(EnvironmentSchema, Value.Convert(EnvironmentSchema, known))
  const problems = [...Value.Errors(EnvironmentSchema, parsed)]
  if (problems.length > 0) {
    const messages = problems.map((problem) => {
      const name = problem.instancePath.replace(/^\//, '')
      return `${name}=${JSON.stringify(known[name])}: ${problem.message}`
    })
    throw new ConfigError(`invalid setting ${[...new Set(messages)].join('; ')}`)
  }
  const environment = parsed as Environment

  if (environment.REDIS_SENTINELS !== undefined && environment.REDIS_SENTINEL_NAME === undefined) {
    throw new ConfigError('invalid setting REDIS_SENTINEL_NAME: required when REDIS_SENTINELS is set')
  }
  const issuer = environment.ISSUER ?? `http://localhost:${environment.PORT}`
  const audience = environment.DEFAULT_AUDIENCE ?? issuer
  if (!isResourceIndicator(audience)) {
    const setting = environment.DEFAULT_AUDIENCE === undefined ? `ISSUER=${JSON.stringify(issuer)} (DEFAULT_AUDIENCE defaults to it)` : `DEFAULT_AUDIENCE=${JSON.stringify(audience)}`
    throw new ConfigError(`invalid setting ${setting}: must be an absolute URI without a fragment (RFC 8707)`)
  }
  return {
    ...environment,
    ISSUER: issuer,
    DEFAULT_AUDIENCE: audience,
    TRUST_PROXY: parseTrustProxy(environment.TRUST_PROXY)
  }
}

function parseTrustProxy(value: string): boolean | number | string {
  if (value === 'true') return true
  if (value === 'false') return false
  if (/^\d+$/.test(value)) return Number(value)
  return value
}
