import Type, { type Static } from 'typebox'
import { ERRORS } from '../errors.js'

/** The error body (README, "API"): Fastify's own shape plus a stable `code`. */
export const ErrorResponse = Type.Object(
  {
    statusCode: Type.Integer(),
    error: Type.String(),
    code: Type.Union(Object.keys(ERRORS).map((code) => Type.Literal(code))),
    message: Type.String()
  }
)

export const User = Type.Object({
  id: Type.String(),
  name: Type.String(),
  email: Type.String(),
  /** When the owner followed the verification mail's link; null until then. */
  email_verified_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' })
})
export type User = Static<typeof User>

/** RFC 6749 §5.1. */
export const TokenResponse = Type.Object({
  access_token: Type.String(),
  /** `DPoP` for a token bound to the key of the login's DPoP proof (RFC 9449 §5). */
  token_type: Type.Union([Type.Literal('bearer'), Type.Literal('DPoP')]),
  expires_in: Type.Integer({ description: 'seconds until the token expires' })
})
export type TokenResponse = Static<typeof TokenResponse>

/** The error responses every bearer-protected route can give. */
export const bearerErrors = {
  401: ErrorResponse,
  503: ErrorResponse
}
