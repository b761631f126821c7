import type { RevocationDatabase } from '../revocation-database.js'
import type { SingleUseStore } from './index.js'

/** The embedded single-use store, a table of the revocation database; an expired row counts as never used. */
export function createSqliteSingleUseStore({ db, guard }: RevocationDatabase): SingleUseStore {
  const use = db.prepare(
    `INSERT INTO used_once (scope, value, expires_at) VALUES (@scope, @value, @until)
     ON CONFLICT (scope, value) DO UPDATE SET expires_at = excluded.expires_at WHERE used_once.expires_at <= @now`
  )
  return {
    use: async (scope, value, now, until) => guard(() => use.run({ scope, value, now, until }).changes === 1)
  }
}
