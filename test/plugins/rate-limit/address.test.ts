import { test } from 'tap'
import { addressKey } from '../../../src/plugins/rate-limit/address.js'

test('rate limits count IPv6 by its /64 and IPv4 by the address', async (t) => {
  const cases: [string, string, string][] = [
    ['IPv4', '203.0.113.7', '203.0.113.7'],
    ['IPv4-mapped IPv6', '::ffff:203.0.113.7', '203.0.113.7'],
    ['IPv4-mapped IPv6, upper case', '::FFFF:cb00:7107', '203.0.113.7'],
    ['compressed IPv6', '2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['the same /64, spelled out', '2001:0db8:0001:0002:ffff:0000:0000:0002', '2001:db8:1:2::/64'],
    ['another /64', '2001:db8:1:3::1', '2001:db8:1:3::/64'],
    ['compression inside the prefix', '2001:db8::1', '2001:db8:0:0::/64'],
    ['loopback', '::1', '0:0:0:0::/64'],
    ['a zone id', 'fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['an IPv4 tail (NAT64)', '64:ff9b::203.0.113.7', '64:ff9b:0:0::/64'],
    ['an IPv4 tail after five groups', '::1:2:3:4:203.0.113.7', '0:0:1:2::/64']
  ]
  for (const [description, ip, expected] of cases) t.equal(addressKey(ip), expected, description)
})
