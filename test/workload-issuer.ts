/**
 * A workload-identity issuer on loopback, as a Kubernetes API server (its service-account issuer) or a SPIRE
 * server serves one: OpenID Connect discovery, a JWKS, and tokens signed in the shape they have. Its keys
 * rotate on demand, a new `kid` each time.
 */
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose'
import type { TestContext } from './helper.js'

export interface WorkloadIssuer {
  /** Its `iss`, the URL its discovery document is under. */
  issuer: string
  jwksUri: string
  /** How many times the JWKS was fetched. */
  fetches(): number
  /** A new signing key with a new kid; the JWKS serves only it from now on unless `keepOld`. */
  rotate(keepOld?: boolean): Promise<void>
  /** A Kubernetes projected service-account token (kubelet's TokenRequest) for `namespace/name`. */
  serviceAccountToken(options: { namespace: string; name: string; audience: string | string[]; now: number; lifetime?: number; omit?: string[]; key?: 'current' | 'unpublished' }): Promise<string>
  /** A SPIFFE JWT-SVID (SPIFFE JWT-SVID §3) for `spiffeId`. */
  svid(options: { spiffeId: string; audience: string | string[]; now: number; lifetime?: number }): Promise<string>
}

interface SigningKey {
  kid: string
  privateKey: CryptoKey
  jwk: JWK
}

async function newKey(alg: 'RS256' | 'ES256', kid: string, use: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use } }
}

/**
 * `kind`: 'kubernetes' signs RS256 (the API server's default) with `use: "sig"` keys; 'spiffe' signs ES256
 * with the `use: "jwt-svid"` keys of a SPIFFE trust bundle.
 */
export async function startWorkloadIssuer(t: TestContext, kind: 'kubernetes' | 'spiffe'): Promise<WorkloadIssuer> {
  const alg = kind === 'kubernetes' ? 'RS256' : 'ES256'
  const use = kind === 'kubernetes' ? 'sig' : 'jwt-svid'
  let generation = 1
  let keys = [await newKey(alg, `${kind}-1`, use)]
  const unpublished = await newKey(alg, `${kind}-unpublished`, use)
  let fetches = 0
  const server = createServer((request, response) => {
    const json = (body: unknown) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    if (request.url === '/.well-known/openid-configuration') return json({ issuer, jwks_uri: `${issuer}/openid/v1/jwks`, id_token_signing_alg_values_supported: [alg] })
    if (request.url === '/openid/v1/jwks') {
      fetches++
      return json({ keys: keys.map((key) => key.jwk) })
    }
    response.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const sign = (claims: Record<string, unknown>, key: SigningKey) => new SignJWT(claims).setProtectedHeader({ alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey)
  return {
    issuer,
    jwksUri: `${issuer}/openid/v1/jwks`,
    fetches: () => fetches,
    async rotate(keepOld = false) {
      const next = await newKey(alg, `${kind}-${++generation}`, use)
      keys = keepOld ? [next, ...keys] : [next]
    },
    serviceAccountToken({ namespace, name, audience, now, lifetime = 3600, omit = [], key = 'current' }) {
      const seconds = Math.floor(now / 1000)
      // The claims of a token the kubelet mounts through a projected serviceAccountToken volume.
      const claims: Record<string, unknown> = {
        aud: Array.isArray(audience) ? audience : [audience],
        exp: seconds + lifetime,
        iat: seconds,
        nbf: seconds,
        iss: issuer,
        jti: randomUUID(),
        'kubernetes.io': {
          namespace,
          node: { name: 'node-a', uid: randomUUID() },
          pod: { name: `${name}-7c9d8b5f4-x2x9q`, uid: randomUUID() },
          serviceaccount: { name, uid: randomUUID() },
          warnafter: seconds + Math.min(lifetime, 3607) - 7
        },
        sub: `system:serviceaccount:${namespace}:${name}`
      }
      for (const claim of omit) delete claims[claim]
      return sign(claims, key === 'current' ? keys[0]! : unpublished)
    },
    svid({ spiffeId, audience, now, lifetime = 300 }) {
      const seconds = Math.floor(now / 1000)
      return sign({ sub: spiffeId, aud: Array.isArray(audience) ? audience : [audience], exp: seconds + lifetime, iat: seconds, iss: issuer }, keys[0]!)
    }
  }
}
