import pg from 'pg'

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
