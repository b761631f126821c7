import { markerSeconds } from '@jwt-auth-service/verifier/feed'
import { nextEpoch } from '../not-before.js'
import type { RevocationDatabase } from '../revocation-database.js'
import type { ClientTokenStore } from './index.js'

/** The embedded client-token store, in the revocation database's tables. Epochs as in not-before.ts, by the service's clock. */
export function createSqliteClientTokenStore({ db, guard }: RevocationDatabase): ClientTokenStore {
  const keepEpoch = db.prepare(
    `INSERT INTO client_epochs (client_id, epoch, expires_at) VALUES (@clientId, @epoch, @until)
     ON CONFLICT (client_id) DO UPDATE SET
       epoch = CASE WHEN client_epochs.expires_at > @now THEN client_epochs.epoch ELSE excluded.epoch END,
       expires_at = MAX(CASE WHEN client_epochs.expires_at > @now THEN client_epochs.expires_at ELSE 0 END, excluded.expires_at)`
  )
  const epochOf = db.prepare<[string, number], { epoch: number }>('SELECT epoch FROM client_epochs WHERE client_id = ? AND expires_at > ?')
  const revoked = db.prepare<[string, number], { state: string }>('SELECT state FROM revoked_tokens WHERE jti = ? AND expires_at > ?')
  const revoke = db.prepare("INSERT OR REPLACE INTO revoked_tokens (jti, state, expires_at) VALUES (?, 'r', ?)")
  const forget = db.prepare('INSERT OR REPLACE INTO client_epochs (client_id, epoch, expires_at) VALUES (?, ?, ?)')
  const forgetting = db.transaction((clientId: string, now: number, until: number) => {
    forget.run(clientId, nextEpoch(now, epochOf.get(clientId, now)?.epoch), until)
  })

  return {
    async keepEpoch(clientId, now, until) {
      return guard(() => {
        keepEpoch.run({ clientId, epoch: now * 1000, until, now })
        return { epoch: epochOf.get(clientId, now)!.epoch }
      })
    },
    async check({ client_id, jti, iat, epoch }, now) {
      return guard(() => {
        if (revoked.get(jti, now) !== undefined) return 'revoked'
        const current = epochOf.get(client_id, now)?.epoch
        if (current === undefined) return 'revoked'
        const passes = epoch === undefined ? markerSeconds(current) <= iat : epoch === current
        return passes ? 'active' : 'revoked'
      })
    },
    async revoke({ jti, exp }) {
      guard(() => revoke.run(jti, exp * 1000))
    },
    async forget(clientId, now, until) {
      guard(() => forgetting.immediate(clientId, now, until))
    }
  }
}
