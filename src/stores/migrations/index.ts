/**
 * Versioned schema migrations, shared by both backends:
 *
 * - PostgreSQL (./postgres.ts): one numbered list for the whole database (users and clients together),
 *   applied in one transaction under an advisory lock, recorded in `<DATABASE_SCHEMA>.schema_migrations`;
 * - SQLite (./sqlite.ts): one numbered list per file, recorded in `PRAGMA user_version`.
 *
 * A step is never edited once released: a change to the schema is a new step with the next number.
 */

/** One numbered step; `up` receives the backend's connection (and, for PostgreSQL, the schema). */
export interface MigrationStep<Up> {
  /** 1, 2, 3…: consecutive, in order; the number is what the database records. */
  readonly version: number
  /** What the step does, in a few words (recorded in schema_migrations, shown in errors). */
  readonly name: string
  readonly up: Up
}

/**
 * A failed migration: a step that raised an error (named in the message, with the database's own
 * message), or a database this release cannot use. The process prints the message and stops; the
 * stack (driver internals) would tell an operator nothing more.
 */
export class MigrationError extends Error {
  override name = 'MigrationError'
}

/**
 * The database holds something this release cannot use, and migrating will not fix it: a table of
 * ours in the service's schema is someone else's (columns missing), or the database was migrated by
 * a newer release. The message names the table (or file) and the setting to change.
 */
export class IncompatibleSchemaError extends MigrationError {
  override name = 'IncompatibleSchemaError'
}

/** Refuses a list that is not 1, 2, 3… (a programming error, caught by any test that migrates). */
export function checkSteps(steps: readonly MigrationStep<unknown>[]): number {
  steps.forEach((step, index) => {
    if (step.version !== index + 1) throw new Error(`migration steps must be numbered 1, 2, 3…: step ${index + 1} is "${step.name}" with version ${step.version}`)
  })
  return steps.length
}
