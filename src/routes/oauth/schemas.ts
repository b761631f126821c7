import Type from 'typebox'

/** RFC 6749 §5.2. */
export const OAuthErrorResponse = Type.Object({ error: Type.String(), error_description: Type.String() })

/** Fields every client-authenticated endpoint may carry (client_secret_post). */
export const ClientAuthFields = {
  client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200, examples: ['billing'] })),
  client_secret: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'client_secret_post; prefer Basic (the Authorize button)' }))
}

export const TokenParameter = {
  // Any string up to the body limit is a token to judge (inactive if not ours), not a malformed request.
  token: Type.String({ minLength: 1, maxLength: 16384, description: 'an access token (a JWT)' }),
  token_type_hint: Type.Optional(Type.String({ maxLength: 100, examples: ['access_token'] }))
}

export const oauthErrors = { 400: OAuthErrorResponse, 401: OAuthErrorResponse, 503: OAuthErrorResponse }
