import { isIPv6 } from 'node:net'

/** The eight 16-bit groups of an IPv6 address (zone dropped, `::` expanded, an IPv4 tail as two groups). */
function ipv6Groups(ip: string): number[] {
  let text = ip.split('%', 1)[0]!.toLowerCase()
  const ipv4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (ipv4 !== null) {
    const [a, b, c, d] = ipv4.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, ipv4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = text.split('::') as [string, string | undefined]
  const parse = (part: string | undefined): number[] => (part === undefined || part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)))
  const left = parse(head)
  const right = parse(tail)
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right]
}

/**
 * The part of a client address that rate limits count by. One IPv6 host is usually given a whole /64
 * (RFC 6177, RFC 7934), so counting by full address would hand it 2^64 buckets: IPv6 is counted by
 * its /64; IPv4 (also IPv4-mapped IPv6, `::ffff:a.b.c.d`) by the address.
 */
export function addressKey(ip: string): string {
  if (!isIPv6(ip)) return ip
  const groups = ipv6Groups(ip)
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.')
  }
  return `${groups.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`
}
