// A workload's access token from jwt-auth-service, with no secret: the Kubernetes service-account token the
// kubelet projects into the pod is the client's credential (README, "Services without secrets"). Node 18+.
//   TOKEN_FILE  the projected token (the kubelet rotates it: read it again for every grant)
//   AUTH_URL    the service's ISSUER; SCOPE, RESOURCE optional
import { readFile } from 'node:fs/promises'

const { TOKEN_FILE = '/var/run/secrets/jwt-auth-service/token', AUTH_URL = 'https://auth.example.com', SCOPE, RESOURCE } = process.env

let cached // { accessToken, renewAt }

/** An access token, fetched again a minute before it expires. */
export async function accessToken() {
  if (cached !== undefined && Date.now() < cached.renewAt) return cached.accessToken
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: (await readFile(TOKEN_FILE, 'utf8')).trim()
  })
  if (SCOPE) body.set('scope', SCOPE)
  if (RESOURCE) body.set('resource', RESOURCE)
  const response = await fetch(`${AUTH_URL}/oauth/token`, { method: 'POST', body })
  const answer = await response.json()
  if (!response.ok) throw new Error(`${AUTH_URL}/oauth/token: ${response.status} ${answer.error}: ${answer.error_description}`)
  cached = { accessToken: answer.access_token, renewAt: Date.now() + Math.max(0, answer.expires_in - 60) * 1000 }
  return cached.accessToken
}

// Run as a program: fetch one token and say what it is (never the token itself).
if (import.meta.url === `file://${process.argv[1]}`) {
  const [, payload] = (await accessToken()).split('.')
  const { client_id, scope, aud, exp } = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
  console.log(JSON.stringify({ client_id, scope, aud, expires_at: new Date(exp * 1000).toISOString() }))
}
