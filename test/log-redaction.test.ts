import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { test } from 'tap'
import app, { serverOptions } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { loggerOptions, redactUrl } from '../src/logger.js'
import { bearer, form, logLines, registerAndLogin, storeEnv } from './helper.js'

test('credentials in a query string never reach the log; the parameter names do', async (t) => {
  const { stream, lines } = logLines()
  const config = loadConfig({ ...(await storeEnv(t, 'embedded')), LOG_LEVEL: 'info' })
  const fastify = Fastify({ ...serverOptions(config), ...loggerOptions(config, stream) })
  t.teardown(() => fastify.close())
  await fastify.register(fp(app), { config })
  await fastify.ready()

  const { token } = await registerAndLogin(fastify)
  await fastify.inject({ url: `/api/user?access_token=${token}&view=full`, headers: bearer(token) })
  await fastify.inject(form('/oauth/token?client_secret=s3cr3t-in-the-url&client_id=billing', { grant_type: 'client_credentials' }))
  await fastify.inject({ url: '/api/user?token=tok-value&refresh_token=refresh-value&Password=pass-value&%61ccess_token=encoded-name-value' })

  const text = lines.join('\n')
  for (const secret of [token, 's3cr3t-in-the-url', 'tok-value', 'refresh-value', 'pass-value', 'encoded-name-value']) {
    t.notOk(text.includes(secret), `no ${secret.slice(0, 12)}… in the logs`)
  }
  const urls = lines.map((line) => (JSON.parse(line) as { req?: { url?: string } }).req?.url).filter((url) => url !== undefined)
  t.ok(urls.includes('/api/user?access_token=[REDACTED]&view=full'), 'the name stays, the value goes, other parameters stay')
  t.ok(urls.includes('/oauth/token?client_secret=[REDACTED]&client_id=billing'))
  t.ok(urls.includes('/api/user?token=[REDACTED]&refresh_token=[REDACTED]&Password=[REDACTED]&%61ccess_token=[REDACTED]'))
})

test('redactUrl', async (t) => {
  const cases: [string, string][] = [
    ['/api/user', '/api/user'],
    ['/api/user?', '/api/user?'],
    ['/a?access_token', '/a?access_token'],
    ['/a?access_token=', '/a?access_token=[REDACTED]'],
    ['/a?x=1&password=a=b&y=2', '/a?x=1&password=[REDACTED]&y=2'],
    ['/a?token=%E0%A4%A', '/a?token=[REDACTED]'],
    ['/a?%E0%A4%A=1', '/a?%E0%A4%A=1'],
    ['/a?tokens=1&my_token=2', '/a?tokens=1&my_token=2']
  ]
  for (const [url, logged] of cases) t.equal(redactUrl(url), logged, url)
})
