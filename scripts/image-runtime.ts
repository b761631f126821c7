import { readFileSync } from 'node:fs'
import { join, sep } from 'node:path'

/**
 * How the image (Dockerfile) runs the service: Node's flags from its CMD and the memory settings from its
 * ENV. The bench, the nemesis and the memory tests start the service with these, so that what they measure
 * is what a pod does; read from the Dockerfile so that the two never drift apart.
 */
export interface ImageRuntime {
  /** The flags between `node` and the script in CMD, e.g. V8's heap sizes. */
  nodeArgs: string[]
  /** glibc malloc's settings (MALLOC_*, GLIBC_TUNABLES) from ENV. */
  memoryEnv: Record<string, string>
}

/** The project's root, from scripts/ (run from source) or dist/scripts/ (built). */
const ROOT = import.meta.dirname.split(sep).includes('dist') ? join(import.meta.dirname, '..', '..') : join(import.meta.dirname, '..')
const DOCKERFILE = join(ROOT, 'Dockerfile')

let fromDockerfile: ImageRuntime | undefined

/** The project's Dockerfile, read once per process (the nemesis starts services again and again). */
export function imageRuntime(): ImageRuntime {
  return (fromDockerfile ??= parseImageRuntime(readFileSync(DOCKERFILE, 'utf8')))
}

export function parseImageRuntime(dockerfile: string): ImageRuntime {
  const cmd = /^CMD (\[.*\])\s*$/m.exec(dockerfile)?.[1]
  if (cmd === undefined) throw new Error('the Dockerfile has no CMD in exec form')
  const words = JSON.parse(cmd) as string[]
  if (words[0] !== 'node') throw new Error(`the Dockerfile's CMD does not start node: ${cmd}`)
  const nodeArgs = words.slice(1, -1)
  const memoryEnv: Record<string, string> = {}
  // Instructions only: the comments mention these settings too.
  const instructions = dockerfile.split('\n').filter((line) => !/^\s*#/.test(line)).join('\n')
  for (const [, name, value] of instructions.matchAll(/\b(MALLOC_[A-Z_]+|GLIBC_TUNABLES)=(\S+)/g)) memoryEnv[name!] = value!
  if (Object.keys(memoryEnv).length === 0) throw new Error('the Dockerfile sets no MALLOC_* variable')
  return { nodeArgs, memoryEnv }
}
