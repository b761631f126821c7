import Type from 'typebox'

/** RFC 6749 §5.2. */
export const OAuthErrorResponse = Type.Object({ error: Type.String(), error_description: Type.String() })

/** Fields every client-authenticated endpoint may carry (client_secret_post; an assertion, RFC 7521 §4.2). */
export const ClientAuthFields = {
  client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200, examples: ['billing'] })),
  client_secret: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'client_secret_post; prefer Basic (the Authorize button)' })),
  client_assertion_type: Type.Optional(Type.String({ maxLength: 200, examples: ['urn:ietf:params:oauth:client-assertion-type:jwt-bearer'] })),
  client_assertion: Type.Optional(
    Type.String({ minLength: 1, maxLength: 16384, description: 'private_key_jwt: a JWT signed with the client\'s key; or the workload\'s Kubernetes service-account token or SPIFFE JWT-SVID' })
  )
}

export const TokenParameter = {
  // Any string up to the body limit is a token to judge (inactive if not ours), not a malformed request.
  token: Type.String({ minLength: 1, maxLength: 16384, description: 'an access token (a JWT)' }),
  token_type_hint: Type.Optional(Type.String({ maxLength: 100, examples: ['access_token'] }))
}

export const oauthErrors = { 400: OAuthErrorResponse, 401: OAuthErrorResponse, 503: OAuthErrorResponse }
