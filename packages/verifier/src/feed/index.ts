/**
 * @jwt-auth-service/verifier/feed: what every reader of the revocation feed must agree on, the service's
 * own instances and this package's verifier alike: the token profile, the feed's protocol (events, shards,
 * generations, its Lua), the reader that follows it in Redis, and the in-memory replica it keeps. An
 * interface for the service and for tools, not for applications: those use createVerifier.
 */
export * from '../token-profile.js'
export * from '../delegation.js'
export * from '../dpop.js'
export * from '../clock.js'
export * from '../generational-cache.js'
export * from '../lua.js'
export * from '../redis.js'
export * from './expiring-set.js'
export * from './markers.js'
export * from './protocol.js'
export * from './reader.js'
export * from './replica.js'
