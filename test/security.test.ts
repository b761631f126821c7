import { randomBytes } from 'node:crypto'
import { test } from 'tap'
import { forgedTokens } from './forge.js'
import { basic, bearer, buildTestApp, createClient, form, registerAndLogin } from './helper.js'

/** A deterministic generator, so that a failure can be replayed. */
function generator(seed: number): () => number {
  let state = seed
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31
    return state / 2 ** 31
  }
}

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

test('hundreds of forged and mangled tokens never get past 401', async (t) => {
  const app = await buildTestApp(t, 'redis-postgres')
  const { token } = await registerAndLogin(app)
  const secret = await createClient(app, 'fuzz', ['a'])
  const clientToken = (await app.inject(form('/oauth/token', { grant_type: 'client_credentials' }, basic('fuzz', secret)))).json().access_token as string
  const random = generator(42)
  const variants = new Set<string>((await forgedTokens(app, token)).map(([, forged]) => forged))

  for (const genuine of [token, clientToken]) {
    const [header, payload, signature] = genuine.split('.') as [string, string, string]
    const decodedHeader = JSON.parse(Buffer.from(header, 'base64url').toString())
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    for (let i = 0; i < 120; i++) {
      // One character changed somewhere (header, payload or signature).
      const at = Math.floor(random() * genuine.length)
      const replacement = alphabet[Math.floor(random() * alphabet.length)]!
      if (genuine[at] !== '.' && genuine[at] !== replacement) variants.add(genuine.slice(0, at) + replacement + genuine.slice(at + 1))
    }
    for (const alg of ['none', 'None', 'NONE', 'HS256', 'HS384', 'HS512', 'RS256', 'PS256', 'ES384', 'ES512', 'EdDSA', '', null, 42]) {
      variants.add(`${b64({ ...decodedHeader, alg })}.${payload}.${signature}`)
      variants.add(`${b64({ ...decodedHeader, alg })}.${payload}.`)
    }
    for (const kid of ['', '../../etc/passwd', 'x'.repeat(5000), null, 1, { $ne: 1 }, "' OR 1=1 --"]) variants.add(`${b64({ ...decodedHeader, kid })}.${payload}.${signature}`)
    for (const typ of ['jwt', 'at+jwt', 'JWT', 'application/jwt', 'secevent+jwt', '']) variants.add(`${b64({ ...decodedHeader, typ })}.${payload}.${signature}`)
    for (const crit of [['exp'], ['b64'], []]) variants.add(`${b64({ ...decodedHeader, crit })}.${payload}.${signature}`)
    variants.add(`${b64({ ...decodedHeader, jku: 'https://evil.example/jwks.json' })}.${payload}.${signature}`)
    variants.add(`${b64({ ...decodedHeader, jwk: { kty: 'oct', k: 'AAAA' } })}.${payload}.${signature}`)
    variants.add(`${payload}.${header}.${signature}`)
    variants.add(`${header}.${payload}`)
    variants.add(`${header}.${payload}.${signature}.${signature}`)
    variants.add(`${header}..${signature}`)
    variants.add(`${header}.${b64('not json')}.${signature}`)
    variants.add(`${header}.${b64('null')}.${signature}`)
    variants.add(`${header}.${payload}.${randomBytes(64).toString('base64url')}`)
    variants.add(`${header}.${payload}.${signature}==`)
    variants.add(` ${genuine}`.slice(1).toUpperCase())
  }
  for (let i = 0; i < 40; i++) variants.add(randomBytes(Math.floor(random() * 300) + 1).toString('base64url'))
  variants.delete(token)
  variants.delete(clientToken)
  t.ok(variants.size >= 300, `${variants.size} variants`)

  const allowed = new Set([401])
  const unexpected: string[] = []
  let checked = 0
  for (const variant of variants) {
    for (const request of [
      { url: '/api/user', headers: bearer(variant) },
      { url: '/auth/verify', headers: bearer(variant) },
      { method: 'POST' as const, url: '/api/refresh', headers: bearer(variant) }
    ]) {
      const response = await app.inject(request)
      if (!allowed.has(response.statusCode)) unexpected.push(`${request.url} answered ${response.statusCode} to ${variant.slice(0, 80)}`)
      checked++
    }
    const introspected = await app.inject(form('/oauth/introspect', { token: variant }, basic('fuzz', secret)))
    if (introspected.statusCode !== 200 || introspected.json().active !== false) unexpected.push(`introspection answered ${introspected.statusCode} ${introspected.body} to ${variant.length} chars: ${variant.slice(0, 80)}`)
  }
  t.same(unexpected, [], `${checked} requests with forged tokens, every one 401, and every introspection inactive`)
  t.equal((await app.inject({ url: '/api/user', headers: bearer(token) })).statusCode, 200, 'the genuine token still works')
})

test('odd bodies and parameters never get a 5xx', async (t) => {
  const app = await buildTestApp(t, 'redis-postgres')
  const { token } = await registerAndLogin(app)
  const { token: refreshed } = await registerAndLogin(app) // refresh rotates its token, whatever the body
  const secret = await createClient(app, 'odd', ['x'])
  const deep = `${'{"a":'.repeat(2500)}1${'}'.repeat(2500)}`
  const bodies = [
    '', 'null', 'true', '0', '-1e309', '"string"', '[]', '[{}]', '{}', deep,
    '{"email":"\\u0000@x.io","password":"\\ud800\\udc00\\u0000"}',
    '{"email":"a@b.c","password":"' + 'x'.repeat(15_000) + '"}',
    '{"name":{"toString":1},"email":[],"password":{},"password_confirmation":null}',
    '{"constructor":{"prototype":{"admin":true}}}',
    '{"email":"a@b.c","password":12345678901234567890123456789}',
    '{"a":' + '1'.repeat(10_000) + '}',
    '\uFEFF{"email":"a@b.c","password":"x"}',
    '{"email": "a@b.c", "password": "x"',
    Buffer.from([0xff, 0xfe, 0xfd]).toString('latin1')
  ]
  const contentTypes = ['application/json', 'application/json; charset=utf-16', 'application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x', 'application/xml']
  const routes: { method: 'POST' | 'PUT' | 'GET' | 'DELETE'; url: string; headers?: Record<string, string> }[] = [
    { method: 'POST', url: '/api/register' },
    { method: 'POST', url: '/api/login' },
    { method: 'POST', url: '/api/refresh', headers: bearer(refreshed) },
    { method: 'POST', url: '/api/logout?scope=%00', headers: bearer(token) },
    { method: 'PUT', url: '/api/user/password', headers: bearer(token) },
    { method: 'DELETE', url: `/api/sessions/${encodeURIComponent('../../x')}`, headers: bearer(token) },
    { method: 'POST', url: '/oauth/token', headers: basic('odd', secret) },
    { method: 'POST', url: '/oauth/introspect', headers: basic('odd', secret) },
    { method: 'POST', url: '/oauth/revoke', headers: basic('odd', secret) },
    { method: 'GET', url: '/auth/verify?scope=%ff%fe', headers: bearer(token) }
  ]
  const failures: string[] = []
  let sent = 0
  for (const route of routes) {
    for (const body of bodies) {
      for (const contentType of contentTypes) {
        const response = await app.inject({ ...route, headers: { ...route.headers, 'content-type': contentType }, payload: body })
        sent++
        if (response.statusCode >= 500) failures.push(`${route.method} ${route.url} (${contentType}) answered ${response.statusCode} to ${body.slice(0, 60)}`)
      }
    }
  }
  t.same(failures, [], `${sent} odd requests, no 5xx`)
  t.equal((await app.inject({ url: '/api/user', headers: bearer(token) })).statusCode, 200, 'nothing was lost')
})

test('login timing: an unknown email and a wrong password cost the same (within 25%)', async (t) => {
  const app = await buildTestApp(t, 'embedded')
  const account = await registerAndLogin(app)
  const time = async (email: string): Promise<number> => {
    const started = process.hrtime.bigint()
    const response = await app.inject({ method: 'POST', url: '/api/login', payload: { email, password: 'not the password' } })
    if (response.statusCode !== 401) throw new Error(`expected 401, got ${response.statusCode}`)
    return Number(process.hrtime.bigint() - started) / 1e6
  }
  // The lower quartile, not the median: a loaded machine only ever adds time, so the faster samples show
  // what each path costs; a path that skipped argon2 would still be several times faster.
  const lowerQuartile = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 4)]!
  const known: number[] = []
  const unknown: number[] = []
  // Interleaved, so that a noisy neighbour hits both alike.
  for (let i = 0; i < 21; i++) {
    known.push(await time(account.email))
    unknown.push(await time(`nobody${i}@example.com`))
  }
  const [a, b] = [lowerQuartile(known), lowerQuartile(unknown)]
  t.ok(Math.abs(a - b) / Math.max(a, b) < 0.25, `lower quartile ${a.toFixed(1)} ms for a wrong password, ${b.toFixed(1)} ms for an unknown email`)
  t.ok(Math.min(a, b) > 5, 'both pay for an argon2 verify')
})
