import type pg from 'pg'
import { checkSteps, IncompatibleSchemaError, MigrationError, type MigrationStep } from './index.js'

/**
 * The PostgreSQL migration runner.
 *
 * The whole database has one numbered list of steps (users and clients together): every store runs
 * the same list at boot, and whoever comes first applies what is pending; the others find nothing to
 * do. One run is one transaction under an advisory lock, so replicas that start together queue behind
 * each other, and a step that fails leaves the database as it was (PostgreSQL DDL is transactional).
 *
 * What has been applied is recorded in `<schema>.schema_migrations`, one row per step. A database
 * that records a step this release does not know (a newer release migrated it) is refused.
 *
 * After migrating, each of the service's tables must have the columns the code uses: a table of the
 * same name that belongs to someone else (CREATE TABLE IF NOT EXISTS kept theirs) stops the boot with
 * an IncompatibleSchemaError that names the table and the setting, instead of a SQL error on the first
 * request.
 */

/** A step runs inside the migration's transaction; `schema` is the (unquoted) target schema. */
export type PostgresStep = MigrationStep<(db: pg.ClientBase, schema: string) => Promise<void>>

export interface PostgresMigrationOptions {
  /** The schema that holds the tables and schema_migrations; created if missing. */
  schema: string
  steps: readonly PostgresStep[]
  /** The tables the steps leave in `schema`, each with the columns the code needs. */
  tables?: Readonly<Record<string, readonly string[]>>
  /** The setting that chooses the schema, named in errors. */
  setting?: string
}

export interface MigrationResult {
  /** The version the database was at, and the one it is at now. */
  from: number
  to: number
}

/** An identifier as SQL text, always quoted (so that no name is read as a keyword or folded). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** `"schema"."table"`. */
export function qualified(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`
}

/** One lock for the whole database: migrations of all deployments in it run one at a time (they are short). */
const LOCK = 'jwt-auth-service:migrations'
const HISTORY = 'schema_migrations'
const HISTORY_COLUMNS = ['version', 'name', 'applied_at']

/**
 * The columns of a table (in the order of the table), or undefined when there is no such table.
 * `name` is SQL text, as `to_regclass` reads it: quoted and qualified, or unqualified to follow the search_path.
 */
export async function columnsOf(db: pg.ClientBase, name: string): Promise<string[] | undefined> {
  const { rows } = await db.query<{ columns: string[] }>(
    `SELECT ARRAY(SELECT a.attname::text FROM pg_attribute a
                  WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS columns
     FROM (SELECT to_regclass($1) AS oid) r WHERE r.oid IS NOT NULL`,
    [name]
  )
  return rows[0]?.columns
}

/** The expected columns that `columns` lacks. */
export function missingColumns(columns: readonly string[], expected: readonly string[]): string[] {
  return expected.filter((column) => !columns.includes(column))
}

/**
 * Brings the database to the last step of `steps` (see the top of this file). `db` is a connected
 * client that is not in a transaction; the caller owns it. Throws IncompatibleSchemaError for a
 * database this release cannot use, MigrationError for a step that failed (nothing is then applied).
 */
/** A table in the service's schema that another program made: the boot stops, naming it. */
export function notThisServices(schema: string, table: string, missing: readonly string[], setting = 'DATABASE_SCHEMA'): IncompatibleSchemaError {
  return new IncompatibleSchemaError(
    `${setting}=${JSON.stringify(schema)}: table ${schema}.${table} is not this service's (missing columns: ${missing.join(', ')}); give the service a schema of its own`
  )
}

export async function migratePostgres(db: pg.ClientBase, options: PostgresMigrationOptions): Promise<MigrationResult> {
  const { schema, steps, tables = {}, setting = 'DATABASE_SCHEMA' } = options
  const latest = checkSteps(steps)
  const where = `${setting}=${JSON.stringify(schema)}`
  const notOurs = (table: string, missing: string[]) => notThisServices(schema, table, missing, setting)

  await db.query('BEGIN')
  try {
    // Waits for a replica that is migrating right now; everything below sees what it committed.
    await db.query('SELECT pg_advisory_xact_lock(hashtext($1))', [LOCK])

    // Created only when missing: a role that may not create (a locked-down production) still boots on a migrated database.
    const exists = await db.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
    if (exists.rowCount === 0) await db.query(`CREATE SCHEMA ${quoteIdent(schema)}`)

    const history = qualified(schema, HISTORY)
    let recorded = await columnsOf(db, history)
    if (recorded === undefined) {
      await db.query(`CREATE TABLE ${history} (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`)
      recorded = HISTORY_COLUMNS
    }
    const foreignHistory = missingColumns(recorded, HISTORY_COLUMNS)
    if (foreignHistory.length > 0) throw notOurs(HISTORY, foreignHistory)

    const { rows } = await db.query<{ version: number }>(`SELECT coalesce(max(version), 0)::integer AS version FROM ${history}`)
    const from = rows[0]!.version
    if (from > latest) {
      throw new IncompatibleSchemaError(
        `${where}: the database is at migration ${from} (${schema}.${HISTORY}), newer than this release knows (${latest}); ` +
          'run a release that knows it, or give this one a schema of its own'
      )
    }

    for (const step of steps.slice(from)) {
      try {
        await step.up(db, schema)
      } catch (error) {
        if (error instanceof MigrationError) throw error
        throw new MigrationError(`${where}: migration ${step.version} (${step.name}) failed: ${(error as Error).message}`, { cause: error })
      }
      await db.query(`INSERT INTO ${history} (version, name) VALUES ($1, $2)`, [step.version, step.name])
    }

    // The tables the code will query must be ours, whatever the history says.
    for (const [table, expected] of Object.entries(tables)) {
      const columns = await columnsOf(db, qualified(schema, table))
      if (columns === undefined) {
        throw new IncompatibleSchemaError(
          `${where}: table ${schema}.${table} is missing, although ${schema}.${HISTORY} records migration ${latest}; ` +
            'restore it, or give the service a new schema'
        )
      }
      const missing = missingColumns(columns, expected)
      if (missing.length > 0) throw notOurs(table, missing)
    }

    await db.query('COMMIT')
    return { from, to: latest }
  } catch (error) {
    await db.query('ROLLBACK').catch(() => {})
    throw error
  }
}
