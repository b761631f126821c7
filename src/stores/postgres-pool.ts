import { createHash } from 'node:crypto'
import pg from 'pg'
import { ConfigError } from '../config.js'
import { StoreUnavailableError } from '../errors.js'
import { withoutPassword } from '../settings/urls.js'
import { migratePostgres, type MigrationResult } from './migrations/postgres.js'
import { POSTGRES_STEPS, POSTGRES_TABLES } from './migrations/postgres-steps.js'

/**
 * One pool per process, with bounded waits: a request must never hang on a dead database,
 * it gets 503 instead (the stores translate the errors).
 */
export function createPostgresPool(connectionString: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: 10,
    connectionTimeoutMillis: 2000,
    statement_timeout: 5000,
    query_timeout: 6000
  })
  // An idle client that loses its connection emits here; without a listener the process would crash.
  pool.on('error', () => {})
  return pool
}

/** PostgreSQL text cannot hold NUL: a value with one matches no row, and must not reach a query (it would fail). */
export function hasNul(value: string): boolean {
  return value.includes('\u0000')
}

/**
 * Brings the database to this release's schema in DATABASE_SCHEMA (migrations/postgres.ts). A
 * dedicated connection, closed afterwards: a migration may wait for another replica's lock or run a
 * long ALTER, which the request timeouts of the pool would cut.
 */
export async function migrateDatabase(connectionString: string, schema: string): Promise<MigrationResult> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 2000, statement_timeout: 120_000, query_timeout: 125_000 })
  client.on('error', () => {})
  // The first connection of the process: if it fails, the boot stops with the setting to check, not a stack.
  await client.connect().catch((error: Error & { code?: string }) => {
    // Node reports a refused `localhost` (IPv4 and IPv6 both tried) as an AggregateError without a message.
    const reason = error.message.split('\n')[0] || error.code || String(error)
    throw new ConfigError(`DATABASE_URL=${withoutPassword(connectionString)}: cannot connect to PostgreSQL (${reason})`)
  })
  try {
    return await migratePostgres(client, { schema, steps: POSTGRES_STEPS, tables: POSTGRES_TABLES })
  } finally {
    await client.end().catch(() => {})
  }
}

const UNIQUE_VIOLATION = '23505'

/**
 * Every statement is prepared once per connection, by a name its text determines: PostgreSQL then skips
 * parsing and planning on each request (the user lookup of /api/user, the client lookup of a grant). The
 * statements are few and fixed, so the map stays small. (A PgBouncer in transaction mode needs 1.21 or
 * later with max_prepared_statements set.)
 */
const statementNames = new Map<string, string>()
function statementName(sql: string): string {
  let name = statementNames.get(sql)
  if (name === undefined) {
    name = `jwt_auth_${createHash('sha256').update(sql).digest('hex').slice(0, 20)}`
    statementNames.set(sql, name)
  }
  return name
}

/** How often a store whose reachability is asked checks it without being queried (a silent network partition). */
export const REACHABILITY_PROBE_MS = 1000

/** A migrated pool and one way to query it, with the errors translated. */
export interface PostgresStore {
  /** Rows, or `duplicate()` for a unique violation, or StoreUnavailableError for anything else. */
  query<Row>(sql: string, values?: unknown[]): Promise<Row[]>
  /**
   * False from the moment the database is known not to answer (a query failed, a pooled connection was
   * lost, or the probe that runs every REACHABILITY_PROBE_MS once this is first asked failed) until a
   * query succeeds again: what a cache of its records asks before it answers for it.
   */
  reachable(): boolean
  close(): Promise<void>
}

/**
 * Migrates the database (every store runs the same steps; whoever comes first applies them), then
 * opens the pool for one store. A refused migration throws before any pool is open.
 */
export async function openPostgresStore(
  connectionString: string,
  schema: string,
  store: string,
  duplicate: () => Error
): Promise<PostgresStore> {
  await migrateDatabase(connectionString, schema)
  const pool = createPostgresPool(connectionString)
  let answers = true
  let probe: NodeJS.Timeout | undefined
  // A pooled connection that the server or the network dropped.
  pool.on('error', () => {
    answers = false
  })
  return {
    async query<Row>(sql: string, values: unknown[] = []): Promise<Row[]> {
      try {
        const { rows } = await pool.query({ name: statementName(sql), text: sql, values })
        answers = true
        return rows as Row[]
      } catch (error) {
        if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw duplicate()
        answers = false
        throw new StoreUnavailableError(store, error)
      }
    },
    reachable() {
      probe ??= setInterval(() => {
        pool.query('SELECT 1').then(
          () => (answers = true),
          () => (answers = false)
        )
      }, REACHABILITY_PROBE_MS).unref()
      return answers
    },
    async close() {
      clearInterval(probe)
      await pool.end()
    }
  }
}
