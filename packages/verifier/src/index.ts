/**
 * @jwt-auth-service/verifier: verify jwt-auth-service's tokens inside your own service, and refuse a revoked
 * one within a bound, from the service's revocation feed (verifier.ts). The Fastify plugin is
 * `@jwt-auth-service/verifier/fastify`.
 */
export {
  createVerifier,
  VerificationError,
  type DpopRequest,
  type FeedSource,
  type TokenVerifier,
  type VerificationCode,
  type VerifiedClaims,
  type VerifierOptions
} from './verifier.js'
export { bearerTokenOf, dpopProofOf, presentedTokenOf, missingScopes, normalizedTyp, tokenKindOf, type Actor, type ExchangedFrom, type PresentedToken, type TokenKind } from './token-profile.js'
export type { Clock, Monotonic } from './clock.js'
