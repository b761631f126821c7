import type { Config } from '../config.js'
import { OAuthError, ServiceError } from '../errors.js'
import { isResourceIndicator, parseScopes, type Client } from '../schemas/clients.js'
import type { VerifiedToken } from '../schemas/tokens.js'
import type { ClientTokenStore, IssuedUnder } from '../stores/client-tokens/index.js'
import type { SessionStore } from '../stores/sessions/index.js'
import { toSeconds, type Clock } from './clock.js'
import type { TokenIssuer } from './token-issuer.js'
import type { SignedTokenReader, Verifier } from './verifier.js'

export interface ClientTokenGrant {
  access_token: string
  /** `DPoP` for a token bound to the key of the request's DPoP proof (RFC 9449 §5). */
  token_type: 'Bearer' | 'DPoP'
  expires_in: number
  scope: string
}

/** What /oauth/revoke revoked, for the audit log. */
export type Revoked = { kind: 'nothing' } | { kind: 'client'; client_id: string } | { kind: 'user'; sub: string; sid: string }

export type { IssuedUnder }

/** A grant's epoch, kept at `at` (ms): what the client's store step answered, which the token carries. */
export interface KeptEpoch {
  at: number
  issuedUnder: IssuedUnder
}

export interface ClientTokens {
  /**
   * The client-credentials grant (RFC 6749 §4.4), tokens in the RFC 9068 profile. `resource` (RFC 8707)
   * must be one of the client's audiences; without it, the token is for the client's first audience. Never
   * DEFAULT_AUDIENCE, the user tokens' own: a client without an audience gets invalid_target.
   * `kept`: keepEpoch() already ran for this grant at `kept.at` (in the round trip of the client's
   * authentication) and answered `kept.epoch`; the token is issued at that time too. Otherwise this keeps the epoch first.
   */
  issue(client: Client, request: { scope?: string; resource?: string }, kept?: KeptEpoch, binding?: { jkt: string }): Promise<ClientTokenGrant>
  /** The store step a grant at `now` needs before its token exists (the client's epoch), for issue(). */
  keepEpoch(clientId: string, now: number): Promise<IssuedUnder>
  /**
   * RFC 7662 for `by`: the token, when it is active and `by` may see it (its own tokens; any with the
   * `introspect` privilege); undefined otherwise, which the route answers as `{ active: false }`.
   * `by` may still be being authenticated: the token is checked meanwhile, and its failure is `by`'s.
   */
  introspect(token: string, by: Client | Promise<Client>): Promise<VerifiedToken | undefined>
  /**
   * RFC 7009 for `by`: an unknown, invalid or expired token is nothing to revoke. A client may revoke
   * its own tokens; others (a user token ends its session, as logout does) only with the `revoke`
   * privilege, and 400 unauthorized_client otherwise (§2.1: the server decides).
   */
  revoke(token: string, by: Client): Promise<Revoked>
  /** Every token of the client is refused from now on. */
  forget(clientId: string): Promise<void>
}

export interface ClientTokenDependencies {
  clientTokenStore: ClientTokenStore
  sessionStore: SessionStore
  issuer: TokenIssuer
  signedTokens: SignedTokenReader
  verifier: Verifier
  clock: Clock
  config: Pick<Config, 'CLIENT_TOKEN_TTL' | 'DEFAULT_AUDIENCE'>
}

/** A client's own token: a client-credentials token issued to it, or a token it got by exchange. */
const isOwn = (verified: VerifiedToken, client: Client): boolean => verified.kind !== 'user' && verified.claims.client_id === client.client_id

export function createClientTokens({ clientTokenStore, sessionStore, issuer, signedTokens, verifier, clock, config }: ClientTokenDependencies): ClientTokens {
  return {
    // Kept until the token's expiry.
    keepEpoch: (clientId, now) => clientTokenStore.keepEpoch(clientId, now, (toSeconds(now) + config.CLIENT_TOKEN_TTL) * 1000),

    async issue(client, { scope, resource }, kept, binding) {
      // Asking for no scope grants all of the client's scopes.
      const asked = scope === undefined ? [] : parseScopes(scope)
      const granted = asked.length === 0 ? client.scopes : asked
      const refused = granted.filter((name) => !client.scopes.includes(name))
      if (refused.length > 0) throw new OAuthError(400, 'invalid_scope', `the client may not ask for ${refused.join(' ')}`)
      if (resource !== undefined && !isResourceIndicator(resource)) {
        throw new OAuthError(400, 'invalid_target', 'resource must be an absolute URI without a fragment')
      }
      const audience = resource ?? client.audiences[0]
      if (audience === undefined) {
        throw new OAuthError(
          400,
          'invalid_target',
          `the client has no audience: give it one with "clients update ${client.client_id} --audience <uri>" (README, "For service owners")`
        )
      }
      // DEFAULT_AUDIENCE is the user tokens' audience: a client token for it could pass for a user token with a
      // verifier that does not check `typ` (RFC 8725 §3.11 asks for kinds that cannot be confused).
      if (!client.audiences.includes(audience) || audience === config.DEFAULT_AUDIENCE) {
        throw new OAuthError(400, 'invalid_target', 'the client may not ask for tokens for this resource')
      }
      // One reading of the clock for the epoch and the token. Before the token exists: a token is only
      // handed out once the store can tell it apart from older ones.
      const now = kept?.at ?? clock.now()
      const iat = toSeconds(now)
      const exp = iat + config.CLIENT_TOKEN_TTL
      // The token carries the client's epoch (and the feed's generation): it passes only while they are current.
      const { epoch, generation } = kept?.issuedUnder ?? (await clientTokenStore.keepEpoch(client.client_id, now, exp * 1000))
      const signed = issuer.signClient({
        sub: client.client_id,
        client_id: client.client_id,
        aud: audience,
        scope: granted.join(' '),
        iat,
        exp,
        epoch,
        gen: generation,
        ...(binding === undefined ? {} : { cnf: { jkt: binding.jkt } })
      })
      return { access_token: signed.token, token_type: binding === undefined ? 'Bearer' : 'DPoP', expires_in: exp - iat, scope: signed.claims.scope }
    },

    async introspect(token, by) {
      // Checked while the client is being authenticated (`by` pending), in the same Redis round trip; nothing
      // of it is answered before the client is known.
      const checking = verifier.verify(token, { anyAudience: true }).catch((error: unknown) => {
        // A token we cannot vouch for is inactive; a store we cannot reach is still a 503.
        if (error instanceof ServiceError && error.statusCode === 401) return undefined
        throw error
      })
      // Should the authentication fail first, the check's own failure is not left unhandled.
      checking.catch(() => undefined)
      const client = await by
      const verified = await checking
      // A token the client may not see is answered as inactive: the answer tells it nothing (RFC 7662 §2.2).
      return verified !== undefined && (isOwn(verified, client) || client.privileges.includes('introspect')) ? verified : undefined
    },

    async revoke(token, by) {
      let verified: VerifiedToken
      try {
        verified = signedTokens.read(token, { keep: false })
      } catch (error) {
        if (error instanceof ServiceError && error.statusCode === 401) return { kind: 'nothing' }
        throw error
      }
      if (!isOwn(verified, by) && !by.privileges.includes('revoke')) {
        throw new OAuthError(400, 'unauthorized_client', 'the client may revoke only its own tokens')
      }
      const now = clock.now()
      // A delegated token is its acting client's: revoked alone, it leaves the user's session (and its origins) alive;
      // the tokens exchanged from it are refused with it (their exchanged_from names it).
      if (verified.kind !== 'user') {
        await clientTokenStore.revoke(verified.claims, now)
        return { kind: 'client', client_id: verified.claims.client_id }
      }
      await sessionStore.end(verified.claims, now)
      // Acknowledged (sessions.ts, end): the token is now simply revoked. Best effort: it is revoked already.
      await sessionStore.confirmEnd(verified.claims).catch(() => {})
      return { kind: 'user', sub: verified.claims.sub, sid: verified.claims.sid }
    },

    forget(clientId) {
      const now = clock.now()
      return clientTokenStore.forget(clientId, now, now + config.CLIENT_TOKEN_TTL * 1000)
    }
  }
}
