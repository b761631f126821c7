import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'tap'
import { runKeys } from '../../scripts/keys/command.js'
import { runCommand, spawnCommand } from '../cli.js'

// The command in-process, in `cwd`; the built CLI for the exit codes only the process shows.
const keys = (cwd: string, env: Record<string, string>, ...args: string[]) => runCommand(runKeys, env, args, cwd)
const spawned = (cwd: string, env: Record<string, string>, ...args: string[]) => spawnCommand('keys', env, args, cwd)

test('npm run keys: --help on stdout, an unknown option is a usage error without a stack', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'keys-cli-'))
  const help = spawned(cwd, {}, '--help')
  t.equal(help.status, 0)
  t.match(help.stdout, /^usage: .*keys/)
  t.equal(help.stderr, '')
  for (const args of [['--bogus'], ['extra'], ['--alg', 'XYZ']]) {
    const bad = spawned(cwd, {}, ...args)
    t.equal(bad.status, 2, args.join(' '))
    t.match(bad.stderr, /usage:/)
    t.notMatch(bad.stderr, /\n\s+at |ERR_PARSE_ARGS/, 'no stack trace')
    t.equal(bad.stdout, '')
  }
  t.notOk(existsSync(join(cwd, 'data')), 'nothing written')
})

test('npm run keys writes under DATA_DIR by default, mode 0600, never over a file', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'keys-cli-'))
  const dataDir = join(cwd, 'state')
  const first = await keys(cwd, { DATA_DIR: dataDir })
  t.equal(first.status, 0, first.stderr)
  const printed = JSON.parse(first.stdout)
  t.match(printed, { alg: 'ES256', kid: String, public_jwk: { kty: 'EC' } })
  t.equal(join(printed.file, '..'), dataDir, 'the default file is in DATA_DIR')
  t.equal(statSync(printed.file).mode & 0o777, 0o600)
  t.notMatch(first.stdout, /PRIVATE/)

  const named = await keys(cwd, { DATA_DIR: dataDir }, '--out', 'next.pem', '--alg', 'EdDSA')
  t.equal(named.status, 0, named.stderr)
  t.equal(JSON.parse(named.stdout).file, join(dataDir, 'next.pem'), 'a bare file name lands in DATA_DIR')
  t.notOk(existsSync(join(cwd, 'next.pem')), 'not in the working directory')
  const before = readFileSync(join(dataDir, 'next.pem'), 'utf8')
  const again = await keys(cwd, { DATA_DIR: dataDir }, '--out', 'next.pem')
  t.equal(again.status, 1)
  t.match(again.stderr, /EEXIST/)
  t.equal(readFileSync(join(dataDir, 'next.pem'), 'utf8'), before, 'the existing key is kept')

  const explicit = await keys(cwd, { DATA_DIR: dataDir }, '--out', './here.pem')
  t.equal(explicit.status, 0, explicit.stderr)
  t.ok(existsSync(join(cwd, 'here.pem')), 'a path with a directory is used as is')
})
