import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'tap'
import { EnvironmentSchema, loadConfig } from '../../src/config.js'

const ROOT = join(import.meta.dirname, '..', '..')
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8')

test('.env.example lists every setting with its default, commented out', async (t) => {
  const lines = read('.env.example').split('\n')
  const settings = new Map<string, string>()
  for (const line of lines) {
    t.ok(line === '' || line.startsWith('#'), `commented: ${line}`)
    const match = /^# ([A-Z][A-Z0-9_]*)=(\S*)/.exec(line)
    if (match !== null) settings.set(match[1]!, match[2]!)
  }
  t.same([...settings.keys()].sort(), Object.keys(EnvironmentSchema.properties).sort(), 'every setting, and only those')
  for (const [name, schema] of Object.entries(EnvironmentSchema.properties)) {
    const fallback = (schema as { default?: unknown }).default
    t.equal(settings.get(name), fallback === undefined ? '' : String(fallback), `${name}: its default`)
  }
  // Uncommented as written, the example is a valid configuration of the defaults.
  const uncommented = Object.fromEntries([...settings].filter(([, value]) => value !== ''))
  t.same(loadConfig(uncommented), loadConfig({}))
})

test('npm scripts: a watching dev server that stops at once; no silenced npm', async (t) => {
  const { scripts } = JSON.parse(read('package.json')) as { scripts: Record<string, string> }
  t.match(scripts.dev, /\bwatch\b/, 'npm run dev watches')
  t.match(scripts.dev, /SHUTDOWN_DRAIN_SECONDS=0\b/, 'Ctrl-C exits at once')
  t.match(scripts.dev, /pino-pretty/, 'readable logs')
  t.notMatch(read('.npmrc'), /^\s*loglevel\s*=/m, 'npm ci is not silenced')
  t.match(read('.gitignore'), /^\*\.pem$/m, 'keys are never committed')
  // Every CLI example prints clean JSON as written: `npm run -s` keeps npm's banner out of stdout.
  const examples = read('README.md').split('\n').filter((line) => /npm run (\S+ )*(clients|keys)\b/.test(line) && !/`npm run (clients|keys)`/.test(line))
  t.ok(examples.length > 0)
  for (const line of examples) t.notMatch(line, /npm run (clients|keys) --/, `with -s: ${line}`)
})
