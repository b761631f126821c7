/**
 * `npm ci` on a supported Node prints no EBADENGINE: every package the lock file installs (optional ones aside, which
 * npm skips when their engines refuse the running Node) accepts the Node that runs the suite, and package.json's
 * `engines` names it too. The lock records each package's `engines`, so this reads what npm would check.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { test } from 'tap'

const semver = createRequire(import.meta.url)('semver') as { satisfies(version: string, range: string): boolean }
const read = (file: string) => JSON.parse(readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8')) as Record<string, unknown>

type Lock = { packages: Record<string, { engines?: { node?: string }; optional?: boolean; version?: string }> }

/** The installed packages whose `engines.node` refuses `version`, as `name@version: node <range>`. */
function refusingPackages(lock: Lock, version: string): string[] {
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && entry.optional !== true && entry.engines?.node !== undefined && !semver.satisfies(version, entry.engines.node))
    .map(([path, entry]) => `${path.replace(/^.*node_modules\//, '')}@${entry.version}: node ${entry.engines!.node}`)
}

test('every installed package accepts this Node, as package.json does', async (t) => {
  t.same(refusingPackages(read('package-lock.json') as Lock, process.version), [], `no package refuses Node ${process.version}`)
  const own = (read('package.json') as { engines: { node: string } }).engines.node
  t.ok(semver.satisfies(process.version, own), `package.json's engines (${own}) accept ${process.version}`)
  // What the check finds when a package wants a newer Node: light-my-request 6.8's cookie 2 on Node 20.
  const withCookie2: Lock = { packages: { '': {}, 'node_modules/light-my-request/node_modules/cookie': { version: '2.0.2', engines: { node: '>=22' } } } }
  t.same(refusingPackages(withCookie2, 'v20.20.2'), ['cookie@2.0.2: node >=22'])
})
