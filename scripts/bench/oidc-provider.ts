/**
 * The bench's peer: oidc-provider (panva/node-oidc-provider) configured as one would deploy it for
 * machine-to-machine OAuth, in a process of its own. Started by scripts/bench.ts; prints `ready` once
 * listening and exits on SIGTERM.
 *   POST /token                  client_credentials, client_secret_basic; with
 *                                `resource=https://api.example.com` an ES256 JWT, without an opaque token
 *   POST /token/introspection    RFC 7662, for the client's own tokens
 *   POST /token/revocation       RFC 7009, for the client's own tokens
 * Env: PORT, ISSUER (http://127.0.0.1:PORT), REDIS_URL (redis://127.0.0.1:6379), REDIS_KEY_PREFIX
 * (oidc:), BENCH_CLIENT_ID (bench), BENCH_CLIENT_SECRET (bench-secret).
 */
import { createServer } from 'node:http'
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose'
import { Redis } from 'ioredis'
// @ts-expect-error -- oidc-provider ships no type declarations; the little used here is typed below.
import { Provider as UntypedProvider, errors as untypedErrors } from 'oidc-provider'

interface Provider {
  proxy: boolean
  callback(): Parameters<typeof createServer>[1]
}
const Provider = UntypedProvider as new (issuer: string, configuration: object) => Provider
const { InvalidTarget } = untypedErrors as { InvalidTarget: new (description?: string) => Error }

const PORT = Number(process.env.PORT ?? 0)
const ISSUER = process.env.ISSUER ?? `http://127.0.0.1:${PORT}`
const RESOURCE = 'https://api.example.com'

// keyPrefix: every key this process writes lives under REDIS_KEY_PREFIX, so the bench can count and
// delete them on a shared Redis.
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { keyPrefix: process.env.REDIS_KEY_PREFIX ?? 'oidc:' })

/**
 * oidc-provider's own example Redis adapter (example/adapters/redis.js until v8.8, since moved to the
 * project's Community Guides), ported as is but for HSET in place of the deprecated HMSET: one JSON
 * value per model instance, EXPIREd as `expiresIn` says, hashes for the one-time models so `consume`
 * can mark them, and per-grant lists of token keys for `revokeByGrantId`. Client credentials tokens
 * only take the MULTI SET + EXPIRE / GET path; JWT access tokens are not stored at all.
 */
type Payload = Record<string, unknown> & { grantId?: string; userCode?: string; uid?: string }

const grantable = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest'])
const consumable = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest'])
const grantKeyFor = (id: string): string => `grant:${id}`
const userCodeKeyFor = (userCode: string): string => `userCode:${userCode}`
const uidKeyFor = (uid: string): string => `uid:${uid}`

class RedisAdapter {
  constructor(private readonly name: string) {}

  async upsert(id: string, payload: Payload, expiresIn: number): Promise<void> {
    const key = this.key(id)
    const multi = redis.multi()
    if (consumable.has(this.name)) multi.hset(key, { payload: JSON.stringify(payload) })
    else multi.set(key, JSON.stringify(payload))
    if (expiresIn) multi.expire(key, expiresIn)

    if (grantable.has(this.name) && payload.grantId) {
      const grantKey = grantKeyFor(payload.grantId)
      // The list holds un-prefixed keys: ioredis adds the prefix again when revokeByGrantId DELs them.
      multi.rpush(grantKey, key)
      if (expiresIn > (await redis.ttl(grantKey))) multi.expire(grantKey, expiresIn)
    }
    if (payload.userCode) multi.set(userCodeKeyFor(payload.userCode), id).expire(userCodeKeyFor(payload.userCode), expiresIn)
    if (payload.uid) multi.set(uidKeyFor(payload.uid), id).expire(uidKeyFor(payload.uid), expiresIn)
    await multi.exec()
  }

  async find(id: string | null): Promise<Payload | undefined> {
    if (!id) return undefined
    if (consumable.has(this.name)) {
      const { payload, ...rest } = await redis.hgetall(this.key(id))
      return payload === undefined ? undefined : { ...rest, ...(JSON.parse(payload) as Payload) }
    }
    const data = await redis.get(this.key(id))
    return data === null ? undefined : (JSON.parse(data) as Payload)
  }

  async findByUid(uid: string): Promise<Payload | undefined> {
    return this.find(await redis.get(uidKeyFor(uid)))
  }

  async findByUserCode(userCode: string): Promise<Payload | undefined> {
    return this.find(await redis.get(userCodeKeyFor(userCode)))
  }

  async destroy(id: string): Promise<void> {
    await redis.del(this.key(id))
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    const tokens = await redis.lrange(grantKeyFor(grantId), 0, -1)
    const multi = redis.multi()
    for (const token of tokens) multi.del(token)
    multi.del(grantKeyFor(grantId))
    await multi.exec()
  }

  async consume(id: string): Promise<void> {
    await redis.hset(this.key(id), 'consumed', Math.floor(Date.now() / 1000))
  }

  private key(id: string): string {
    return `${this.name}:${id}`
  }
}

// A fresh signing key per run: nothing outlives the bench. The kid is its RFC 7638 thumbprint.
const { privateKey } = await generateKeyPair('ES256', { extractable: true })
const jwk = await exportJWK(privateKey)
const signingKey = { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'ES256', use: 'sig' }

// The service's rule: a client may introspect and revoke its own tokens. Setting the policies also
// keeps oidc-provider from printing its "default ... function called" notice on stdout.
const ownToken = async (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }): Promise<boolean> =>
  token.clientId === client.clientId

const provider = new Provider(ISSUER, {
  adapter: RedisAdapter,
  jwks: { keys: [signingKey] },
  scopes: ['a', 'b'],
  // The client default is RS256, which the ES256-only keystore could not sign: every client
  // authentication would fail with invalid_client_metadata.
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  // The service's CLIENT_TOKEN_TTL default (15 min), for both formats. Set, the default function's
  // "you SHOULD change it" notice is not printed on stdout either.
  ttl: { ClientCredentials: 900 },
  clients: [
    {
      client_id: process.env.BENCH_CLIENT_ID ?? 'bench',
      client_secret: process.env.BENCH_CLIENT_SECRET ?? 'bench-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'a b'
    }
  ],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: ownToken },
    revocation: { enabled: true, allowedPolicy: ownToken },
    resourceIndicators: {
      enabled: true,
      // Without `resource` the defaults leave the token audience-less, i.e. opaque and stored in Redis.
      getResourceServerInfo: async (_ctx: unknown, resourceIndicator: string) => {
        if (resourceIndicator !== RESOURCE) throw new InvalidTarget()
        return { scope: 'a b', accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }
      }
    }
  }
})

// Koa's default, said out loud: the bench talks to it directly, no X-Forwarded-* to trust.
provider.proxy = false
// node:http rather than provider.listen() (the same thing) for a typed server to close.
const server = createServer(provider.callback())
await new Promise<void>((resolve) => server.listen(PORT, '127.0.0.1', resolve))
console.log('ready')

process.once('SIGTERM', () => {
  server.close(() => void redis.quit().then(() => process.exit(0)))
})
