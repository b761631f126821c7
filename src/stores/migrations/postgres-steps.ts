import type pg from 'pg'
import { columnsOf, missingColumns, notThisServices, qualified, quoteIdent, type PostgresStep } from './postgres.js'

/**
 * The PostgreSQL schema of the whole database (users and clients), step by step. Never edit a
 * released step: add one with the next number, and update POSTGRES_TABLES when it changes a column
 * the code needs.
 */

/** The tables the stores query, with the columns they need: checked at every boot. */
export const POSTGRES_TABLES = {
  users: ['id', 'name', 'email', 'email_key', 'password_hash', 'created_at', 'updated_at', 'email_verified_at', 'disabled_at'],
  clients: ['client_id', 'scope', 'secret_hash', 'created_at', 'audiences', 'privileges', 'auth_method', 'jwks_uri', 'jwks', 'federated_issuer', 'federated_subject'],
  account_tokens: ['token_hash', 'purpose', 'user_id', 'expires_at', 'created_at']
} as const satisfies Record<string, readonly string[]>

/** The tables as release 0.1 made them: what step 1 adopts. */
const RELEASE_0_1_TABLES = {
  users: ['id', 'name', 'email', 'email_key', 'password_hash', 'created_at', 'updated_at'],
  clients: ['client_id', 'scope', 'secret_hash', 'created_at']
} as const

/**
 * Release 0.1 created its tables unqualified, so they live wherever the connection's search_path
 * pointed (usually `public`). When such a table is found, outside the target schema, with the
 * columns of 0.1, it is moved into the target schema: ALTER TABLE … SET SCHEMA keeps every row,
 * index and constraint. A table of that name that is not ours (columns missing) is left alone, as is
 * one in the schema of another deployment of this service (a schema with our schema_migrations).
 */
async function adopt(db: pg.ClientBase, schema: string, table: string, columns: readonly string[]): Promise<void> {
  if ((await columnsOf(db, qualified(schema, table))) !== undefined) return
  const { rows } = await db.query<{ schema: string; columns: string[] }>(
    `SELECT n.nspname::text AS schema,
            ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p') AND c.relpersistence = 'p'`,
    [quoteIdent(table)]
  )
  const found = rows[0]
  if (found === undefined || found.schema === schema) return
  if (missingColumns(found.columns, columns).length > 0) return
  const history = await columnsOf(db, qualified(found.schema, 'schema_migrations'))
  if (history !== undefined && missingColumns(history, ['version', 'name', 'applied_at']).length === 0) return
  await db.query(`ALTER TABLE ${qualified(found.schema, table)} SET SCHEMA ${quoteIdent(schema)}`)
}

export const POSTGRES_STEPS: readonly PostgresStep[] = [
  {
    version: 1,
    name: 'users and clients tables (adopting those of release 0.1)',
    async up(db, schema) {
      await adopt(db, schema, 'users', RELEASE_0_1_TABLES.users)
      await adopt(db, schema, 'clients', RELEASE_0_1_TABLES.clients)
      // The DDL of release 0.1, qualified; IF NOT EXISTS keeps an adopted table.
      await db.query(`
        CREATE TABLE IF NOT EXISTS ${qualified(schema, 'users')} (
          id            uuid PRIMARY KEY,
          name          text NOT NULL,
          email         text NOT NULL,
          email_key     text NOT NULL UNIQUE,
          password_hash text NOT NULL,
          created_at    timestamptz NOT NULL,
          updated_at    timestamptz NOT NULL
        )`)
      await db.query(`
        CREATE TABLE IF NOT EXISTS ${qualified(schema, 'clients')} (
          client_id   text PRIMARY KEY,
          scope       text NOT NULL,
          secret_hash text NOT NULL,
          created_at  timestamptz NOT NULL DEFAULT now()
        )`)
    }
  },
  {
    version: 2,
    name: 'clients: audiences and privileges',
    async up(db, schema) {
      // Space-separated, as `scope` is. Clients of earlier releases get none: they get no token until an
      // operator gives them an audience (README, "For service owners"), and may introspect and revoke only their own.
      await db.query(`ALTER TABLE ${qualified(schema, 'clients')}
        ADD COLUMN audiences  text NOT NULL DEFAULT '',
        ADD COLUMN privileges text NOT NULL DEFAULT ''`)
    }
  },
  {
    version: 3,
    name: 'users: email verification, disabling, and the single-use tokens mailed to them',
    async up(db, schema) {
      // Accounts of earlier releases are unverified and enabled. A token is stored only as its SHA-256 (README, "Accounts").
      // A users table another program made (kept by step 1) is named before anything is changed in it.
      const missing = missingColumns((await columnsOf(db, qualified(schema, 'users'))) ?? [], RELEASE_0_1_TABLES.users)
      if (missing.length > 0) throw notThisServices(schema, 'users', missing)
      await db.query(`ALTER TABLE ${qualified(schema, 'users')}
        ADD COLUMN email_verified_at timestamptz,
        ADD COLUMN disabled_at       timestamptz`)
      await db.query(`
        CREATE TABLE ${qualified(schema, 'account_tokens')} (
          token_hash text PRIMARY KEY,
          purpose    text NOT NULL,
          user_id    uuid NOT NULL REFERENCES ${qualified(schema, 'users')} (id) ON DELETE CASCADE,
          expires_at timestamptz NOT NULL,
          created_at timestamptz NOT NULL,
          UNIQUE (user_id, purpose)
        )`)
    }
  },
  {
    version: 4,
    name: 'clients: private_key_jwt and federated credentials',
    async up(db, schema) {
      // Clients of earlier releases keep their secrets. One client per federated issuer and subject, so that an
      // assertion without client_id names one client (README, "Services without secrets").
      await db.query(`ALTER TABLE ${qualified(schema, 'clients')}
        ADD COLUMN auth_method       text NOT NULL DEFAULT 'client_secret',
        ADD COLUMN jwks_uri          text,
        ADD COLUMN jwks              text,
        ADD COLUMN federated_issuer  text,
        ADD COLUMN federated_subject text`)
      await db.query(`CREATE UNIQUE INDEX clients_federated_identity ON ${qualified(schema, 'clients')} (federated_issuer, federated_subject)
        WHERE federated_issuer IS NOT NULL`)
    }
  },
  {
    version: 5,
    name: 'clients: token exchange audiences',
    async up(db, schema) {
      // Space-separated, as `audiences` is; clients of earlier releases may exchange for none.
      await db.query(`ALTER TABLE ${qualified(schema, 'clients')} ADD COLUMN exchange_audiences text NOT NULL DEFAULT ''`)
    }
  }
]
