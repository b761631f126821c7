import type { FastifyInstance } from 'fastify'
import { test } from 'tap'
import { settableClock } from '../../../src/auth/clock.js'
import { createVerifier, VerificationError } from '@jwt-auth-service/verifier'
import { basic, bearer, buildApp, claimsOf, createClient, form, STORE_MODES, storeEnv, until, type TestContext } from '../../helper.js'

/**
 * A client's epoch is a marker its tokens carry, not a second: a token granted between two changes of the
 * client (secret rotated, client deleted) within one second, or within one millisecond, is refused once
 * the second change is made. The clock is frozen, so that every step happens at the same instant by the
 * service's clock; the stores decide by their markers alone.
 */
const AUDIENCE = 'https://orders.test'

type Check = (token: string) => Promise<number>

async function checkers(t: TestContext, mode: (typeof STORE_MODES)[number], revocationCheck: 'strict' | 'replicated') {
  const clock = settableClock()
  const env = await storeEnv(t, mode, { REVOCATION_CHECK: revocationCheck })
  const a = await buildApp(t, env, clock)
  const b = await buildApp(t, env, clock)
  const verifyOn = (app: FastifyInstance): Check => async (token) => (await app.inject({ url: `/auth/verify?audience=${encodeURIComponent(AUDIENCE)}`, headers: bearer(token) })).statusCode
  const checks: [string, Check][] = [['instance A', verifyOn(a)], ['instance B', verifyOn(b)]]
  if (mode === 'redis-postgres') {
    const url = await a.listen({ port: 0, host: '127.0.0.1' })
    const library = createVerifier({ issuer: 'http://auth.test', audience: AUDIENCE, accept: ['client'], jwksUri: `${url}/.well-known/jwks.json`, clock, feed: { redisUrl: env.REDIS_URL!, keyPrefix: env.REDIS_KEY_PREFIX } })
    t.teardown(() => library.close())
    await library.ready()
    checks.push(['the library', (token) => library.verify(token).then(() => 200, (error: VerificationError) => error.statusCode)])
  }
  return { a, checks }
}

async function grant(app: FastifyInstance, clientId: string, secret: string): Promise<string> {
  const response = await app.inject(form('/oauth/token', { grant_type: 'client_credentials', resource: AUDIENCE }, basic(clientId, secret)))
  if (response.statusCode !== 200) throw new Error(`token: ${response.statusCode} ${response.body}`)
  return response.json().access_token as string
}

for (const mode of STORE_MODES) {
  for (const revocationCheck of mode === 'embedded' ? (['strict'] as const) : (['strict', 'replicated'] as const)) {
    test(`two changes of a client at the same instant refuse the token granted between them (${mode}, ${revocationCheck})`, async (t) => {
      const { a, checks } = await checkers(t, mode, revocationCheck)
      // Strict answers from the store at once; the replica and the library within the lag bound.
      const refused = async (token: string, what: string): Promise<void> => {
        for (const [where, check] of checks) {
          if (where !== 'the library' && revocationCheck === 'strict') t.equal(await check(token), 401, `${what}: refused at once by ${where}`)
          else await t.resolves(until(`${where} to refuse ${what}`, async () => (await check(token)) === 401, 1_000), `${what}: refused by ${where} within the lag bound`)
        }
      }

      t.test('rotate, grant, delete', async (t) => {
        await createClient(a, 'doomed', ['orders:read'], { audiences: [AUDIENCE] })
        const { secret } = (await a.auth.clients.rotateSecret('doomed'))!
        const token = await grant(a, 'doomed', secret)
        for (const [where, check] of checks) t.equal(await check(token), 200, `accepted by ${where} before the delete`)
        t.equal(await a.auth.clients.delete('doomed'), true)
        await refused(token, 'the token granted between the rotation and the delete')
      })

      t.test('rotate, grant, rotate', async (t) => {
        await createClient(a, 'rotated', ['orders:read'], { audiences: [AUDIENCE] })
        const { secret } = (await a.auth.clients.rotateSecret('rotated'))!
        const token = await grant(a, 'rotated', secret)
        const { secret: newest } = (await a.auth.clients.rotateSecret('rotated'))!
        await refused(token, 'the token granted between the two rotations')
        const next = await grant(a, 'rotated', newest)
        t.ok((claimsOf(next).epoch as number) > (claimsOf(token).epoch as number), 'a new grant carries the new epoch')
        for (const [where, check] of checks) t.equal(await check(next), 200, `a token of the new secret: accepted by ${where}`)
      })
    })
  }
}
