import type { SqliteStep } from './sqlite.js'

/**
 * The SQLite schemas, one list per file. Step 1 is the DDL of release 0.1 with IF NOT EXISTS, so a
 * file of that release (user_version 0, tables present) is adopted as it is. Never edit a released
 * step: add one with the next number.
 */

export const USERS_SQLITE_STEPS: readonly SqliteStep[] = [
  {
    version: 1,
    name: 'users table',
    up: `
      CREATE TABLE IF NOT EXISTS users (
        id            TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        email         TEXT NOT NULL,
        email_key     TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL
      )`
  }
]

export const CLIENTS_SQLITE_STEPS: readonly SqliteStep[] = [
  {
    version: 1,
    name: 'clients table',
    up: `
      CREATE TABLE IF NOT EXISTS clients (
        client_id   TEXT PRIMARY KEY,
        scope       TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_at  TEXT NOT NULL
      )`
  },
  {
    version: 2,
    name: 'clients: audiences and privileges',
    // Space-separated, as `scope` is; clients of earlier releases get none.
    up: `
      ALTER TABLE clients ADD COLUMN audiences TEXT NOT NULL DEFAULT '';
      ALTER TABLE clients ADD COLUMN privileges TEXT NOT NULL DEFAULT ''`
  }
]
