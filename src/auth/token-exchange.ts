import { actorDepth, type Actor, type ExchangedFrom } from '@jwt-auth-service/verifier/feed'
import type { Config } from '../config.js'
import { OAuthError, ServiceError } from '../errors.js'
import { isResourceIndicator, parseScopes, type Client } from '../schemas/clients.js'
import type { VerifiedToken } from '../schemas/tokens.js'
import { toSeconds } from './clock.js'
import type { KeptEpoch } from './client-tokens.js'
import type { TokenIssuer } from './token-issuer.js'
import type { Verifier } from './verifier.js'

/** RFC 8693 §2.1 and §3. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'

export interface ExchangeRequest {
  subject_token?: string | undefined
  subject_token_type?: string | undefined
  requested_token_type?: string | undefined
  actor_token?: string | undefined
  resource?: string | undefined
  audience?: string | undefined
  scope?: string | undefined
}

/** RFC 8693 §2.2.1. */
export interface ExchangedGrant {
  access_token: string
  issued_token_type: typeof ACCESS_TOKEN_TYPE
  /** `DPoP` for a token bound to the key of the exchanging client's DPoP proof (RFC 9449 §5). */
  token_type: 'Bearer' | 'DPoP'
  expires_in: number
  scope: string
}

/** The subject token's verdict, started before the client is authenticated and read only after (`subjectCheck`). */
export type SubjectCheck = Promise<VerifiedToken>

export interface TokenExchange {
  /**
   * Starts verifying the request's subject token, so that its store check rides the round trip of the client's
   * authentication. Undefined when the request names no access token to check. Its verdict is read only once the
   * client is authenticated: an unauthenticated caller learns nothing of the token.
   */
  subjectCheck(request: ExchangeRequest): SubjectCheck | undefined
  /**
   * Trades `request.subject_token` (an access token of this service that the client was sent) for a delegated
   * token addressed to one of the client's exchange audiences, acting for the same subject. `kept`: the client's
   * epoch, kept in the round trip of its authentication, as for client credentials. `started`: the request's
   * `subjectCheck`, if one was started.
   */
  exchange(client: Client, request: ExchangeRequest, kept: KeptEpoch, binding?: { jkt: string }, started?: SubjectCheck): Promise<ExchangedGrant>
}

export interface TokenExchangeDependencies {
  verifier: Verifier
  issuer: TokenIssuer
  config: Pick<Config, 'CLIENT_TOKEN_TTL' | 'DEFAULT_AUDIENCE' | 'TOKEN_EXCHANGE_MAX_DEPTH'>
}

const invalidRequest = (message: string) => new OAuthError(400, 'invalid_request', message)

/** The one token the exchanged one was got from, as its revocation will be checked (delegation.ts in the verifier package). */
function originOf(subject: VerifiedToken): ExchangedFrom {
  if (subject.kind === 'user') {
    const { sub, sid, iat, gen } = subject.claims
    return { sub, sid, iat, ...(gen === undefined ? {} : { gen }) }
  }
  // A client's token, or an earlier exchange's: its own state, under its acting client.
  const { client_id, jti, iat, exp, epoch, gen } = subject.claims
  return { client_id, jti, iat, exp, ...(epoch === undefined ? {} : { epoch }), ...(gen === undefined ? {} : { gen }) }
}

export function createTokenExchange({ verifier, issuer, config }: TokenExchangeDependencies): TokenExchange {
  /** The subject token, verified as any request's would be: else invalid_grant (RFC 8693 §2.2.2), or the store's 503. */
  async function subjectOf(token: string): Promise<VerifiedToken> {
    try {
      // Any audience: a user's token is the public API's, and the client it was sent to passes it on.
      return await verifier.verify(token, { anyAudience: true })
    } catch (error) {
      if (error instanceof ServiceError && error.statusCode === 401) throw new OAuthError(400, 'invalid_grant', `the subject token is not valid: ${error.message}`)
      throw error
    }
  }

  /** RFC 8707 `resource` and RFC 8693 `audience` name the target; one of the client's exchange audiences. */
  function targetOf(client: Client, { resource, audience }: ExchangeRequest): string {
    if (resource !== undefined && audience !== undefined && resource !== audience) throw new OAuthError(400, 'invalid_target', 'resource and audience name different targets')
    const target = resource ?? audience ?? client.exchange_audiences[0]
    if (target === undefined) {
      throw new OAuthError(400, 'invalid_target', `the client has no exchange audience: give it one with "clients update ${client.client_id} --exchange-audience <uri>"`)
    }
    if (!isResourceIndicator(target)) throw new OAuthError(400, 'invalid_target', 'the target must be an absolute URI without a fragment')
    // DEFAULT_AUDIENCE is the user tokens' own: an exchanged token is never one of them (RFC 8725 §3.11).
    if (!client.exchange_audiences.includes(target) || target === config.DEFAULT_AUDIENCE) {
      throw new OAuthError(400, 'invalid_target', 'the client may not exchange tokens for this target')
    }
    return target
  }

  /** Within the client's scopes and, for a client's subject token, within that token's: an exchange only narrows. */
  function scopeOf(client: Client, subject: VerifiedToken, scope: string | undefined): string[] {
    const subjectScopes = subject.kind === 'user' ? undefined : parseScopes(subject.claims.scope)
    const allowed = client.scopes.filter((name) => subjectScopes === undefined || subjectScopes.includes(name))
    const asked = scope === undefined ? [] : parseScopes(scope)
    if (asked.length === 0) return allowed
    const refused = asked.filter((name) => !allowed.includes(name))
    if (refused.length > 0) throw new OAuthError(400, 'invalid_scope', `beyond what the client and the subject token allow: ${refused.join(' ')}`)
    return asked
  }

  return {
    subjectCheck(request) {
      if (request.subject_token === undefined || request.subject_token === '' || request.subject_token_type !== ACCESS_TOKEN_TYPE) return undefined
      const check = subjectOf(request.subject_token)
      // Read later, or never (a refused client): its refusal must not be reported as unhandled meanwhile.
      check.catch(() => undefined)
      return check
    },
    async exchange(client, request, kept, binding, started) {
      // RFC 8693 §2.1's parameters, before any work.
      if (request.subject_token === undefined || request.subject_token === '') throw invalidRequest('subject_token is required')
      if (request.subject_token_type !== ACCESS_TOKEN_TYPE) throw invalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`)
      if (request.requested_token_type !== undefined && request.requested_token_type !== ACCESS_TOKEN_TYPE) {
        throw invalidRequest(`requested_token_type may only be ${ACCESS_TOKEN_TYPE}`)
      }
      // The authenticated client is the actor (RFC 8693 §4.1); a separate actor token is not taken.
      if (request.actor_token !== undefined) throw invalidRequest('actor_token is not supported: the authenticated client is the actor')
      if (!client.privileges.includes('exchange')) throw new OAuthError(400, 'unauthorized_client', 'the client may not exchange tokens (clients update --allow exchange)')
      const target = targetOf(client, request)
      const subject = await (started ?? subjectOf(request.subject_token))
      // A key-bound subject token (RFC 9449) is traded only for a bound one: a bearer token would undo the binding for
      // whoever holds the subject token. The exchanging client proves its own key; it cannot prove the subject's.
      if (subject.claims.cnf !== undefined && binding === undefined) {
        throw invalidRequest('the subject token is bound to a key (DPoP): send a DPoP proof, so that the exchanged token is bound too')
      }
      const priorActor = subject.kind === 'delegated' ? subject.claims.act : undefined
      if (actorDepth(priorActor) >= config.TOKEN_EXCHANGE_MAX_DEPTH) {
        throw new OAuthError(400, 'invalid_grant', `the subject token was exchanged ${config.TOKEN_EXCHANGE_MAX_DEPTH} times already (TOKEN_EXCHANGE_MAX_DEPTH)`)
      }
      const scopes = scopeOf(client, subject, request.scope)

      const iat = toSeconds(kept.at)
      // Never past the subject token, nor past a client token issued now.
      const exp = Math.min(subject.claims.exp, iat + config.CLIENT_TOKEN_TTL)
      if (exp <= iat) throw new OAuthError(400, 'invalid_grant', 'the subject token expires now')
      const act: Actor = priorActor === undefined ? { sub: client.client_id } : { sub: client.client_id, act: priorActor }
      const sid = subject.kind === 'client' ? undefined : subject.claims.sid
      const origins = subject.kind === 'delegated' ? [...subject.claims.exchanged_from, originOf(subject)] : [originOf(subject)]
      const { epoch, generation } = kept.issuedUnder
      const signed = issuer.signDelegated({
        sub: subject.claims.sub,
        client_id: client.client_id,
        aud: target,
        scope: scopes.join(' '),
        iat,
        exp,
        act,
        ...(sid === undefined ? {} : { sid }),
        exchanged_from: origins,
        epoch,
        ...(generation === undefined ? {} : { gen: generation }),
        ...(binding === undefined ? {} : { cnf: { jkt: binding.jkt } })
      })
      return { access_token: signed.token, issued_token_type: ACCESS_TOKEN_TYPE, token_type: binding === undefined ? 'Bearer' : 'DPoP', expires_in: exp - iat, scope: signed.claims.scope }
    }
  }
}
