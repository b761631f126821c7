import { existsSync } from 'node:fs'
import { chromium, type Page } from 'playwright-core'
import { test } from 'tap'
import { buildApp, storeEnv } from './helper.js'

/**
 * /docs in a real browser (Debian's chromium, driven by playwright-core): the page renders its operations and
 * a register -> login -> Authorize -> GET /api/user round trip succeeds through "Try it out", at 127.0.0.1 and at
 * another hostname mapped to it (plain HTTP on a name that is not localhost: where helmet's
 * upgrade-insecure-requests turned the page blank, and an absolute `servers` URL made the calls cross-origin).
 */
const CHROMIUM = '/usr/bin/chromium'
const OTHER_HOST = 'docs.example.test'

/** Expands an operation, presses "Try it out", fills the JSON body if any, executes it; returns status and body. */
async function tryOut(page: Page, operationId: string, body?: unknown): Promise<{ status: number; text: string }> {
  const operation = page.locator(`#${operationId}`)
  await operation.locator('.opblock-summary').first().click()
  await operation.locator('.try-out__btn').click()
  if (body !== undefined) await operation.locator('textarea.body-param__text').fill(JSON.stringify(body))
  await operation.locator('button.execute').click()
  // The live answer's row (the table's header row has the same class).
  const status = operation.locator('.live-responses-table tr.response .response-col_status').first()
  await status.waitFor({ timeout: 15_000 })
  const text = (await operation.locator('.live-responses-table .response-col_description pre').first().textContent()) ?? ''
  return { status: Number((await status.textContent())!.trim()), text }
}

async function authorize(page: Page, token: string): Promise<void> {
  await page.locator('.auth-wrapper button.authorize').click()
  const bearer = page.locator('.modal-ux .auth-container').filter({ hasText: 'bearer' })
  await bearer.locator('input').first().fill(token)
  await bearer.locator('button.authorize').click()
  await page.locator('.modal-ux button.btn-done').first().click()
}

test('/docs works in a browser: operations render, and "Try it out" runs register, login, Authorize, /api/user', async (t) => {
  t.ok(existsSync(CHROMIUM), `chromium at ${CHROMIUM} (.ci/run installs Debian's chromium)`)
  const app = await buildApp(t, await storeEnv(t, 'embedded'))
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const port = new URL(address).port
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', `--host-resolver-rules=MAP ${OTHER_HOST} 127.0.0.1`] })
  t.teardown(() => browser.close())

  for (const host of ['127.0.0.1', OTHER_HOST]) {
    await t.test(`at http://${host}:${port}/docs`, async (t) => {
      const page = await browser.newPage()
      const failures: string[] = []
      // What breaks the page: blocked scripts, calls or fetches (CSP), and assets fetched over https.
      page.on('console', (message) => {
        if (message.type() === 'error' && /script-src|connect-src|default-src|ERR_SSL|Failed to fetch/.test(message.text())) failures.push(message.text())
      })
      page.on('requestfailed', (request) => failures.push(`${request.url()}: ${request.failure()?.errorText}`))
      await page.goto(`http://${host}:${port}/docs`)
      await page.locator('.opblock').first().waitFor({ timeout: 15_000 })
      t.ok((await page.locator('.opblock').count()) >= 15, 'the operations are rendered')

      const email = `browser-${host.replace(/\W/g, '')}@example.com`
      const password = 'a browser passphrase'
      const registered = await tryOut(page, 'operations-seed_API-postApiRegister', { name: 'Browser', email, password, password_confirmation: password })
      t.equal(registered.status, 201, `register: ${registered.text}`)
      const loggedIn = await tryOut(page, 'operations-seed_API-postApiLogin', { email, password })
      t.equal(loggedIn.status, 200, 'login')
      const token = (JSON.parse(loggedIn.text) as { access_token: string }).access_token
      t.match(token, /^ey/, 'a token in the answer')
      await authorize(page, token)
      const user = await tryOut(page, 'operations-seed_API-getApiUser')
      t.equal(user.status, 200, `GET /api/user with the token: ${user.text}`)
      t.match(JSON.parse(user.text), { email, name: 'Browser' })
      t.same(failures, [], 'nothing blocked, nothing fetched over https')
      await page.close()
    })
  }
})
