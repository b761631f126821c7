import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'

/**
 * Opens (creating if needed) an embedded SQLite database file under DATA_DIR.
 * WAL lets readers run beside a writer; busy_timeout makes two processes on one file wait
 * for each other's transactions instead of failing at once.
 */
export function openSqlite(dataDir: string, fileName: string): Database.Database {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const db = new Database(join(dataDir, fileName))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('busy_timeout = 5000')
  return db
}
