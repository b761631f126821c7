import proxyAddr from '@fastify/proxy-addr'
import { isIP } from 'node:net'

/** proxy-addr's names for the private ranges, which Fastify's `trustProxy` accepts too. */
const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal'])

/** `10.0.0.0/8`, `fd00::/8`: an address and a prefix length that fits its family. */
function isCidr(text: string): boolean {
  const [address, prefix, ...rest] = text.split('/')
  if (rest.length > 0 || prefix === undefined || !/^\d{1,3}$/.test(prefix)) return false
  const family = isIP(address!)
  return family !== 0 && Number(prefix) <= (family === 4 ? 32 : 128)
}

/**
 * TRUST_PROXY as Fastify's `trustProxy`: `true`/`false`, a hop count, or comma-separated addresses,
 * CIDR ranges and proxy-addr's named ranges. Anything else is undefined: checked here, at boot, because
 * proxy-addr would throw a stack trace from inside Fastify's constructor.
 */
export function parseTrustProxy(text: string): boolean | number | string | undefined {
  const value = text.trim().toLowerCase()
  if (value === 'true') return true
  if (value === 'false') return false
  if (/^\d+$/.test(value)) return Number(value)
  const entries = value.split(',').map((entry) => entry.trim())
  const valid = entries.every((entry) => isIP(entry) !== 0 || isCidr(entry) || NAMED_RANGES.has(entry))
  return valid ? entries.join(',') : undefined
}

/**
 * TRUST_PROXY as proxy-addr's trust function: whether the hop at `hop` (0, the immediate peer) is a trusted proxy.
 * A hop count N trusts the N nearest hops; a list is compiled as Fastify compiles its `trustProxy`, with the same
 * package.
 */
export function trustFunction(trustProxy: boolean | number | string): (address: string, hop: number) => boolean {
  if (typeof trustProxy === 'boolean') return () => trustProxy
  if (typeof trustProxy === 'number') return (_address, hop) => hop < trustProxy
  return proxyAddr.compile(trustProxy.split(','))
}

/**
 * Whether the immediate peer is one of the proxies TRUST_PROXY trusts, and so may tell what the client's request
 * was (X-Forwarded-*, X-Original-*).
 */
export function trustedPeer(trustProxy: boolean | number | string): (address: string) => boolean {
  const trust = trustFunction(trustProxy)
  return (address) => trust(address, 0)
}

export const TRUST_PROXY_SYNTAX = 'true, false, a hop count (1), or comma-separated addresses and CIDR ranges (10.0.0.0/8,192.0.2.7)'

/**
 * CORS_ORIGINS: comma-separated origins, exactly as browsers send them in `Origin` (scheme, host,
 * non-default port; lower case; no path). Throws a reason for the first entry that is not one: a
 * wildcard is refused because these responses carry tokens and personal data, and an entry that
 * merely looks like an origin (a trailing slash, an upper-case host) would silently never match.
 */
export function parseOrigins(text: string): string[] {
  const entries = text.split(',').map((entry) => entry.trim()).filter(Boolean)
  for (const entry of entries) {
    if (entry.includes('*')) throw new Error(`${JSON.stringify(entry)}: no wildcard, these responses carry tokens; list each origin (https://app.example.com)`)
    let url: URL
    try {
      url = new URL(entry)
    } catch {
      throw new Error(`${JSON.stringify(entry)} is not an origin: scheme://host[:port], e.g. https://app.example.com`)
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`${JSON.stringify(entry)}: an origin is http:// or https://`)
    if (url.origin !== entry) throw new Error(`${JSON.stringify(entry)} is not an origin: scheme://host[:port], no path (did you mean ${url.origin}?)`)
  }
  return [...new Set(entries)]
}
