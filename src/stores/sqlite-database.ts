import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { Database } from './sqlite-driver.js'
import { migrateSqlite, type SqliteStep } from './migrations/sqlite.js'

/**
 * Opens (creating if needed) an embedded SQLite database file under DATA_DIR and, given `steps`,
 * migrates it (migrations/sqlite.ts). WAL lets readers run beside a writer; busy_timeout makes two
 * processes on one file wait for each other's transactions instead of failing at once.
 * A file that cannot be migrated is closed again before the error is thrown.
 */
export function openSqlite(dataDir: string, fileName: string, steps?: readonly SqliteStep[]): Database {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const db = new Database(join(dataDir, fileName))
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.pragma('busy_timeout = 5000')
    if (steps !== undefined) migrateSqlite(db, steps)
  } catch (error) {
    db.close()
    throw error
  }
  return db
}
