// The build's second step: the feed's Lua scripts (src/**/*.lua) go beside the compiled modules that read them.
import { cpSync, statSync } from 'node:fs'

const root = new URL('..', import.meta.url)
cpSync(new URL('src', root), new URL('dist', root), {
  recursive: true,
  filter: (source) => source.endsWith('.lua') || statSync(source).isDirectory()
})
