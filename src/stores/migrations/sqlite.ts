import type Database from 'better-sqlite3'
import { checkSteps, IncompatibleSchemaError, MigrationError, type MigrationStep } from './index.js'

/**
 * The SQLite migration runner: one numbered list of steps per file, the file's version in
 * `PRAGMA user_version` (0 for a new file, and for a file of release 0.1, which never set it).
 *
 * Each step runs in its own IMMEDIATE transaction, together with the new user_version: a step is
 * applied whole or not at all, and two processes opening one file at once take turns (the second
 * waits on busy_timeout, then reads the version the first one left, and finds nothing to do).
 * A file at a version this release does not know (written by a newer release) is refused.
 */

/** SQL to run (db.exec), or a function given the database, inside the step's transaction. */
export type SqliteStep = MigrationStep<string | ((db: Database.Database) => void)>

/** Brings the file to the last step; returns the version it was at and the one it is at now. */
export function migrateSqlite(db: Database.Database, steps: readonly SqliteStep[]): { from: number; to: number } {
  const latest = checkSteps(steps)
  const versionOf = () => db.pragma('user_version', { simple: true }) as number
  let from: number | undefined

  const next = db.transaction((): boolean => {
    const current = versionOf()
    from ??= current
    if (current > latest) {
      throw new IncompatibleSchemaError(
        `${db.name} is at schema version ${current} (PRAGMA user_version), newer than this release knows (${latest}); ` +
          'run a release that knows it, or give this one another DATA_DIR'
      )
    }
    const step = steps[current]
    if (step === undefined) return false
    try {
      if (typeof step.up === 'string') db.exec(step.up)
      else step.up(db)
    } catch (error) {
      throw new MigrationError(`${db.name}: migration ${step.version} (${step.name}) failed: ${(error as Error).message}`, { cause: error })
    }
    // A whole number from the list, not input: the pragma takes no bound parameter.
    db.pragma(`user_version = ${step.version}`)
    return true
  })

  while (next.immediate()) {
    // one step per transaction, until none is pending
  }
  return { from: from ?? latest, to: latest }
}
