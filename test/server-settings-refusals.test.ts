import { test } from 'tap'
import { expectRefusals, type Refusal } from './process.js'

// The settings mistakes that would otherwise boot: one line naming the setting, exit 1. A file of its own beside
// server-refusals.test.ts, so that neither file's processes come near tap's timeout on a loaded machine.

const refusals: Refusal[] = [
  ['an ISSUER with a query', async () => ({ ISSUER: 'https://auth.example.com/?tenant=1' }), /ISSUER="https:\/\/auth.example.com\/\?tenant=1": must have no query or fragment/],
  ['an ISSUER with a fragment', async () => ({ ISSUER: 'https://auth.example.com#x' }), /ISSUER=.*: must have no query or fragment/],
  ['an ISSUER with an empty path segment', async () => ({ ISSUER: 'https://auth.example.com//auth' }), /ISSUER=.*: must have no empty path segment/],
  ['a key given inline where only its file is read', async () => ({ JWT_PRIVATE_KEY: '-----BEGIN PRIVATE KEY-----' }), /unknown setting JWT_PRIVATE_KEY: did you mean JWT_PRIVATE_KEY_FILE\?/],
  ['a misspelled setting', async () => ({ REDIS_URI: 'redis://127.0.0.1:6379' }), /unknown setting REDIS_URI: did you mean REDIS_URL\?/],
  ['tokens that outlive their session', async () => ({ ACCESS_TOKEN_TTL: '30d', SESSION_TTL: '1d' }), /ACCESS_TOKEN_TTL="30d": longer than SESSION_TTL="1d"/],
  ['an admin token file that cannot be read', async () => ({ MANAGEMENT_PORT: '39001', ADMIN_TOKEN_FILE: '/nonexistent/admin-token' }), /ADMIN_TOKEN_FILE="\/nonexistent\/admin-token": cannot read it \(ENOENT\)/],
  ['a refresh grace as long as a token', async () => ({ ACCESS_TOKEN_TTL: '10', REFRESH_GRACE: '10' }), /REFRESH_GRACE="10": not shorter than ACCESS_TOKEN_TTL="10"/]
]
test('refuses to start with a mistaken setting: one line naming the setting, exit 1', async (t) => expectRefusals(t, refusals))
