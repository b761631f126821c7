import { decodeProtectedHeader } from 'jose'
import { test } from 'tap'
import { assertOAuthError, basic, buildTestApp, claimsOf, createClient, form, STORE_MODES } from '../../helper.js'

for (const mode of STORE_MODES) {
  test(`POST /oauth/token (${mode})`, async (t) => {
    const app = await buildTestApp(t, mode)
    const secret = await createClient(app, 'billing', ['orders:read', 'orders:write', 'invoices:read'], { audiences: ['https://orders.internal/api'] })
    const grant = (fields: Record<string, string>, headers: Record<string, string> = basic('billing', secret)) =>
      app.inject(form('/oauth/token', { grant_type: 'client_credentials', ...fields }, headers))

    t.test('client_secret_basic: an RFC 9068 token with all the client scopes', async (t) => {
      const response = await grant({})
      t.equal(response.statusCode, 200)
      t.equal(response.headers['cache-control'], 'no-store')
      const body = response.json()
      t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'scope', 'token_type'])
      t.match(body, { token_type: 'Bearer', expires_in: 900, scope: 'orders:read orders:write invoices:read' })
      t.match(decodeProtectedHeader(body.access_token), { typ: 'at+jwt', alg: 'ES256', kid: app.auth.keys.signing.kid })
      const claims = claimsOf(body.access_token)
      t.match(claims, { iss: 'http://auth.test', sub: 'billing', client_id: 'billing', aud: 'https://orders.internal/api', scope: body.scope, jti: String })
      t.equal((claims.exp as number) - (claims.iat as number), 900)
    })

    t.test('client_secret_post, and percent-encoded Basic credentials (RFC 6749 §2.3.1)', async (t) => {
      const posted = await app.inject(form('/oauth/token', { grant_type: 'client_credentials', client_id: 'billing', client_secret: secret }))
      t.equal(posted.statusCode, 200)
      const encoded = `Basic ${Buffer.from(`billin%67:${secret}`).toString('base64')}`
      t.equal((await grant({}, { authorization: encoded })).statusCode, 200)
    })

    t.test('a subset of scopes; none asked grants all', async (t) => {
      t.equal((await grant({ scope: 'orders:read' })).json().scope, 'orders:read')
      t.equal((await grant({ scope: 'invoices:read orders:read orders:read' })).json().scope, 'invoices:read orders:read')
      t.equal((await grant({ scope: '' })).json().scope, 'orders:read orders:write invoices:read')
    })

    t.test('resource, one of the client\'s audiences, becomes the audience (RFC 8707)', async (t) => {
      const response = await grant({ resource: 'https://orders.internal/api' })
      t.equal(claimsOf(response.json().access_token).aud, 'https://orders.internal/api')
      t.equal(claimsOf((await grant({})).json().access_token).aud, 'https://orders.internal/api', 'without resource: the client\'s audience')
      const user = await grant({ resource: 'http://auth.test' })
      assertOAuthError(t, user, 400, 'invalid_target')
      t.notMatch(user.body, /access_token/, 'DEFAULT_AUDIENCE, the user tokens\' audience, is never a client token\'s')
    })

    t.test('a client registered with no audience (as before client tokens had their own) gets invalid_target, saying how to mend it', async (t) => {
      const legacy = await createClient(app, 'legacy', [], { audiences: [] })
      const legacyGrant = (fields: Record<string, string>) => grant(fields, basic('legacy', legacy))
      const refused = await legacyGrant({})
      assertOAuthError(t, refused, 400, 'invalid_target')
      t.match(refused.json().error_description, /clients update legacy --audience/)
      assertOAuthError(t, await legacyGrant({ resource: 'https://orders.internal/api' }), 400, 'invalid_target')
    })

    const negative: [string, Record<string, string>, Record<string, string> | undefined, number, string][] = [
      ['no client authentication', {}, {}, 401, 'invalid_client'],
      ['a wrong secret (Basic)', {}, basic('billing', 'wrong'), 401, 'invalid_client'],
      ['an unknown client (Basic)', {}, basic('nobody', secret), 401, 'invalid_client'],
      ['a wrong secret (post)', { client_id: 'billing', client_secret: 'wrong' }, {}, 401, 'invalid_client'],
      ['a client_id without a secret', { client_id: 'billing' }, {}, 401, 'invalid_client'],
      ['malformed Basic credentials', {}, { authorization: 'Basic !!!' }, 401, 'invalid_client'],
      ['Basic without a colon', {}, { authorization: `Basic ${Buffer.from('billing').toString('base64')}` }, 401, 'invalid_client'],
      ['two authentication methods', { client_id: 'billing', client_secret: secret }, undefined, 400, 'invalid_request'],
      ['a body client_id other than the Basic one', { client_id: 'other' }, undefined, 400, 'invalid_request'],
      ['a scope the client lacks', { scope: 'orders:read admin' }, undefined, 400, 'invalid_scope'],
      ['a relative resource', { resource: '/api' }, undefined, 400, 'invalid_target'],
      ['a resource with a fragment', { resource: 'https://x.example/#f' }, undefined, 400, 'invalid_target'],
      ['a resource outside its audiences', { resource: 'https://unrelated.invalid' }, undefined, 400, 'invalid_target'],
      ['a javascript: resource', { resource: 'javascript:alert(1)' }, undefined, 400, 'invalid_target'],
      ['a resource that only starts like an audience', { resource: 'https://orders.internal/api/admin' }, undefined, 400, 'invalid_target'],
      ['the password grant', { grant_type: 'password' }, undefined, 400, 'unsupported_grant_type'],
      ['an authorization_code grant', { grant_type: 'authorization_code' }, undefined, 400, 'unsupported_grant_type']
    ]
    for (const [description, fields, headers, status, error] of negative) {
      t.test(`${status} ${error} for ${description}`, async (t) => {
        const response = await grant(fields, headers)
        assertOAuthError(t, response, status, error)
        if (status === 401 && headers?.authorization !== undefined) t.match(response.headers['www-authenticate'], /^Basic /)
      })
    }

    t.test('400 invalid_request for a missing or repeated grant_type, and for odd bodies', async (t) => {
      const headers = { ...basic('billing', secret), 'content-type': 'application/x-www-form-urlencoded' }
      assertOAuthError(t, await app.inject({ method: 'POST', url: '/oauth/token', headers, payload: 'scope=orders:read' }), 400, 'invalid_request')
      assertOAuthError(t, await app.inject({ method: 'POST', url: '/oauth/token', headers, payload: 'grant_type=client_credentials&grant_type=client_credentials' }), 400, 'invalid_request')
      assertOAuthError(t, await app.inject({ method: 'POST', url: '/oauth/token', headers, payload: '' }), 400, 'invalid_request')
      assertOAuthError(t, await app.inject({ method: 'POST', url: '/oauth/token', headers, payload: `grant_type=${'x'.repeat(17 * 1024)}` }), 413, 'invalid_request')
      const text = await app.inject({ method: 'POST', url: '/oauth/token', headers: { ...headers, 'content-type': 'text/plain' }, payload: 'grant_type=client_credentials' })
      assertOAuthError(t, text, 415, 'invalid_request')
    })
  })
}
