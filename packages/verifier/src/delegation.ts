import type { ExchangedFrom } from './token-profile.js'

/**
 * A delegated token (RFC 8693 token exchange) passes only while every token it was exchanged from would:
 * the user's session it acts in (ended by any logout, reuse, password change or revocation), and each
 * client token along the way (revoked by itself, or with its client). Its `exchanged_from` names them, root
 * first; the service's store and this package's replica check each as they check a token of that kind, so
 * that nothing new has to travel on the revocation feed.
 */
export interface RevocationCheck {
  /** Whose store slot and feed shard hold the state: a user's `sub`, a client's id. */
  owner: string
  kind: 'session' | 'client'
  claims: { sub?: string; sid?: string; client_id?: string; jti: string; iat: number; exp: number; epoch?: number; gen?: number }
}

export interface DelegatedClaims {
  client_id: string
  jti: string
  iat: number
  exp: number
  epoch?: number
  gen?: number
  exchanged_from: readonly ExchangedFrom[]
}

/** The checks a delegated token passes only all together: its own (as its client's token), then each origin's. */
export function delegatedChecks(claims: DelegatedClaims): RevocationCheck[] {
  const { client_id, jti, iat, exp, epoch, gen } = claims
  // Its own state, as its acting client's token: without `sid`, which would make a replica judge it by the session alone.
  const checks: RevocationCheck[] = [{ owner: client_id, kind: 'client', claims: { client_id, jti, iat, exp, epoch, gen } }]
  for (const origin of claims.exchanged_from) {
    if ('sid' in origin) {
      // The session, not the user's token: a refresh rotates that token, and the delegated token lives on while the session does.
      checks.push({ owner: origin.sub, kind: 'session', claims: { sub: origin.sub, sid: origin.sid, jti, iat: origin.iat, exp, gen: origin.gen } })
    } else {
      checks.push({ owner: origin.client_id, kind: 'client', claims: { client_id: origin.client_id, jti: origin.jti, iat: origin.iat, exp: origin.exp, epoch: origin.epoch, gen: origin.gen } })
    }
  }
  return checks
}
