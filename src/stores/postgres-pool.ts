import pg from 'pg'
import { StoreUnavailableError } from '../errors.js'

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

/** Runs DDL once even when several replicas start at the same moment. */
export async function migrate(pool: pg.Pool, lockName: string, ddl: string): Promise<void> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lockName])
    await client.query(ddl)
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw error
  } finally {
    client.release()
  }
}

const UNIQUE_VIOLATION = '23505'

/** A migrated pool and one way to query it, with the errors translated. */
export interface PostgresStore {
  /** Rows, or `duplicate()` for a unique violation, or StoreUnavailableError for anything else. */
  query<Row>(sql: string, values?: unknown[]): Promise<Row[]>
  close(): Promise<void>
}

/**
 * Opens the pool for one store and creates its tables (under an advisory lock named after the store).
 * A pool whose migration failed is closed again, so that a refused start leaves nothing open.
 */
export async function openPostgresStore(
  connectionString: string,
  store: string,
  ddl: string,
  duplicate: () => Error
): Promise<PostgresStore> {
  const pool = createPostgresPool(connectionString)
  try {
    await migrate(pool, `jwt-auth-service:${store}s`, ddl)
  } catch (error) {
    await pool.end()
    throw error
  }
  return {
    async query<Row>(sql: string, values: unknown[] = []): Promise<Row[]> {
      try {
        return (await pool.query(sql, values)).rows as Row[]
      } catch (error) {
        if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw duplicate()
        throw new StoreUnavailableError(store, error)
      }
    },
    close: () => pool.end()
  }
}
