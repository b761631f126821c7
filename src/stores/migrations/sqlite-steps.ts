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
  },
  {
    version: 2,
    name: 'users: email verification, disabling, and the single-use tokens mailed to them',
    // Accounts of earlier releases are unverified and enabled. A token is stored only as its SHA-256 (README, "Accounts").
    up: `
      ALTER TABLE users ADD COLUMN email_verified_at TEXT;
      ALTER TABLE users ADD COLUMN disabled_at TEXT;
      CREATE TABLE account_tokens (
        token_hash TEXT PRIMARY KEY,
        purpose    TEXT NOT NULL,
        user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        expires_at TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE UNIQUE INDEX account_tokens_user_purpose ON account_tokens (user_id, purpose)`
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
  },
  {
    version: 3,
    name: 'clients: private_key_jwt and federated credentials',
    // Clients of earlier releases keep their secrets; one client per federated issuer and subject.
    up: `
      ALTER TABLE clients ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'client_secret';
      ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
      ALTER TABLE clients ADD COLUMN jwks TEXT;
      ALTER TABLE clients ADD COLUMN federated_issuer TEXT;
      ALTER TABLE clients ADD COLUMN federated_subject TEXT;
      CREATE UNIQUE INDEX clients_federated_identity ON clients (federated_issuer, federated_subject) WHERE federated_issuer IS NOT NULL`
  },
  {
    version: 4,
    name: 'clients: token exchange audiences',
    // Space-separated, as `audiences` is; clients of earlier releases may exchange for none.
    up: `ALTER TABLE clients ADD COLUMN exchange_audiences TEXT NOT NULL DEFAULT ''`
  }
]
