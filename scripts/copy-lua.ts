/**
 * The build's second step (npm run build): copies the stores' Lua scripts (src/**\/*.lua) beside the
 * compiled modules in dist/src, where they read them (luaSource, the verifier package's lua.ts).
 */
import { cpSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
cpSync(`${root}/src`, `${root}/dist/src`, {
  recursive: true,
  filter: (source) => source.endsWith('.lua') || statSync(source).isDirectory()
})
