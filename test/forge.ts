import { generateKeyPairSync } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { SignJWT, importPKCS8 } from 'jose'
import { claimsOf } from './helper.js'

/**
 * Tokens an attacker (or a broken client) could present, made from a genuine token of `app`.
 * Each row: a description, the token, and the code the README's API section gives it.
 */
export async function forgedTokens(app: FastifyInstance, genuine: string): Promise<[string, string, string][]> {
  const key = app.auth.keys.signing
  const claims = claimsOf(genuine)
  const [header64, payload64, signature64] = genuine.split('.') as [string, string, string]
  const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)

  const realKey = await importPKCS8(key.privateKey.toString(), key.alg)
  const signWithRealKey = (payload: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> =>
    new SignJWT(payload).setProtectedHeader({ alg: key.alg, typ: 'JWT', kid: key.kid, ...header }).sign(realKey)

  const strangerPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const stranger = await importPKCS8(strangerPem, 'ES256')
  const { sub: _sub, sid: _sid, ...withoutSubAndSid } = claims

  return [
    ['alg none', `${b64({ alg: 'none', typ: 'JWT', kid: key.kid })}.${payload64}.`, 'TOKEN_INVALID'],
    ['alg none with the genuine signature', `${b64({ alg: 'none', typ: 'JWT' })}.${payload64}.${signature64}`, 'TOKEN_INVALID'],
    [
      'HS256 signed with the public key as the secret',
      await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: key.kid }).sign(Buffer.from(key.publicKey.toString())),
      'TOKEN_INVALID'
    ],
    ['tampered payload (another sub)', `${header64}.${b64({ ...claims, sub: '00000000-0000-4000-8000-000000000000' })}.${signature64}`, 'TOKEN_INVALID'],
    ['tampered header (another kid)', `${b64({ ...JSON.parse(Buffer.from(header64, 'base64url').toString()), kid: 'other' })}.${payload64}.${signature64}`, 'TOKEN_INVALID'],
    ['signed by an unknown key with an unknown kid', await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: 'unknown' }).sign(stranger), 'TOKEN_INVALID'],
    ['signed by an unknown key with our kid', await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: key.kid }).sign(stranger), 'TOKEN_INVALID'],
    ['our key, but an unknown kid', await signWithRealKey(claims, { kid: 'unknown' }), 'TOKEN_INVALID'],
    ['our key, but no kid', await signWithRealKey(claims, { kid: undefined }), 'TOKEN_INVALID'],
    ['our key, typ at+jwt', await signWithRealKey(claims, { typ: 'at+jwt' }), 'TOKEN_INVALID'],
    ['our key, another issuer', await signWithRealKey({ ...claims, iss: 'https://evil.example' }), 'TOKEN_INVALID'],
    ['our key, no sub and no sid', await signWithRealKey(withoutSubAndSid), 'TOKEN_INVALID'],
    ['our key, auth_time not a number', await signWithRealKey({ ...claims, auth_time: 'yesterday' }), 'TOKEN_INVALID'],
    ['our key, exp not a number', await signWithRealKey({ ...claims, exp: 'never' }), 'TOKEN_INVALID'],
    ['our key, expired', await signWithRealKey({ ...claims, iat: now - 120, exp: now - 60 }), 'TOKEN_EXPIRED'],
    ['our key, a session that does not exist', await signWithRealKey({ ...claims, sid: 'no-such-session' }), 'TOKEN_REVOKED'],
    ['three dots of nothing', '..', 'TOKEN_INVALID'],
    ['not a JWT', 'hello', 'TOKEN_INVALID'],
    ['base64 garbage', 'eyJ.eyJ.eyJ', 'TOKEN_INVALID'],
    ['a JSON array as payload', `${header64}.${b64([1, 2])}.${signature64}`, 'TOKEN_INVALID'],
    ['truncated signature', genuine.slice(0, -10), 'TOKEN_INVALID'],
    ['a very long token', `${genuine}${'A'.repeat(8000)}`, 'TOKEN_INVALID']
  ]
}

/** Authorization headers that carry no usable bearer token. */
export const badAuthorizationHeaders: [string, Record<string, string>, string][] = [
  ['no Authorization header', {}, 'TOKEN_MISSING'],
  ['an empty Authorization header', { authorization: '' }, 'TOKEN_MISSING'],
  ['the Basic scheme', { authorization: 'Basic dXNlcjpwYXNz' }, 'TOKEN_MISSING'],
  ['Bearer with no token', { authorization: 'Bearer' }, 'TOKEN_INVALID'],
  ['Bearer with two tokens', { authorization: 'Bearer a.b.c d.e.f' }, 'TOKEN_INVALID']
]
