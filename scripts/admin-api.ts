/**
 * The CLIs' `--url` and `--token-file`: the same commands through the admin API (README, "Admin API"), for an
 * operator without a shell in a pod. Answers are the API's; failures become the errors the CLIs already report.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'

/** The admin API refused the request for a reason the operator can act on (exit 2): its own message. */
export class RefusedError extends Error {
  constructor(readonly status: number, readonly code: string | undefined, message: string) {
    super(message)
  }
}

/** The API could not be reached, refused the token, or could not do it now (exit 1). */
export class RemoteError extends Error {}

export interface AdminApi {
  /** Where the calls go, for the operator's stderr. */
  origin: string
  /** The answer's JSON for a 2xx; RefusedError for a 4xx other than 401; RemoteError otherwise. */
  call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<unknown>
}

/** How long one call may take: a management port that does not answer is not waited for. */
const TIMEOUT_MS = 15_000

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/**
 * `url`: the management listener's base URL; `tokenFile`: the file with ADMIN_TOKEN_FILE's token, relative to
 * `cwd`; `warn`: the operator's stderr.
 */
export function adminApi(url: string, tokenFile: string, cwd: string, warn: (text: string) => void): AdminApi {
  let base: URL
  try {
    base = new URL(url.endsWith('/') ? url : `${url}/`)
  } catch {
    throw new RefusedError(0, undefined, `--url ${JSON.stringify(url)} is not an absolute URL (the management port, e.g. http://127.0.0.1:9000)`)
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new RefusedError(0, undefined, `--url ${url}: http or https only`)
  if (base.protocol === 'http:' && !LOOPBACK.has(base.hostname)) {
    warn(`warning: the admin token goes to ${base.host} in clear text; prefer kubectl port-forward to 127.0.0.1, or https`)
  }
  let token: string
  try {
    token = readFileSync(resolve(cwd, tokenFile), 'utf8').trim()
  } catch (error) {
    throw new RefusedError(0, undefined, `cannot read --token-file ${tokenFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
  }
  return {
    origin: base.origin,
    async call(method, path, body) {
      const target = new URL(path.replace(/^\//, ''), base)
      let response: Response
      try {
        response = await fetch(target, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          redirect: 'error',
          signal: AbortSignal.timeout(TIMEOUT_MS)
        })
      } catch (error) {
        throw new RemoteError(`the admin API at ${base.origin} did not answer: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`)
      }
      const text = await response.text()
      let answer: { code?: string; message?: string } | undefined
      try {
        answer = JSON.parse(text) as typeof answer
      } catch {
        answer = undefined
      }
      if (response.ok) {
        if (answer === undefined) throw new RemoteError(`${base.origin} answered ${response.status} with something that is not JSON: is --url the management port?`)
        return answer
      }
      const message = answer?.message ?? `${response.status} ${response.statusText}`
      if (response.status === 401) throw new RemoteError(`the admin API refused the token in ${tokenFile} (${message})`)
      if (response.status === 404 && answer?.code === 'NOT_FOUND' && /is not a route/.test(message)) {
        throw new RemoteError(`${base.origin} serves no admin API: --url is the management port (MANAGEMENT_PORT), and the service needs ADMIN_TOKEN_FILE`)
      }
      if (response.status >= 400 && response.status < 500) throw new RefusedError(response.status, answer?.code, message)
      throw new RemoteError(`${message}\nnothing is lost: run the same command again once the service's stores answer`)
    }
  }
}
