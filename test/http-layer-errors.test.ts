import { connect, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { test } from 'tap'
import app, { serverOptions } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { httpTimeouts } from '../src/server.js'
import { assertError, storeEnv, type TestContext } from './helper.js'

// Errors that Node's HTTP layer produces before (or while) Fastify sees a request: app.inject cannot make
// them, so these tests talk to a real port. The process's own HTTP options, with a 1 s request timeout.
const REQUEST_TIMEOUT = 1000

async function listen(t: TestContext): Promise<number> {
  const config = loadConfig(await storeEnv(t, 'embedded'))
  const fastify = Fastify({ ...serverOptions(config), ...httpTimeouts(REQUEST_TIMEOUT) })
  t.teardown(() => fastify.close())
  await fastify.register(fp(app), { config })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  return (fastify.server.address() as AddressInfo).port
}

interface RawResponse {
  statusCode: number
  headers: Record<string, string>
  body: string
  /** Milliseconds from connecting to the end of the answer. */
  ms: number
  json(): unknown
}

/**
 * Connects, lets `send` write what it likes, and reads the answer until the server closes the
 * connection (every request here says `Connection: close`, and Node closes after a client error).
 */
function exchange(port: number, send: (socket: Socket) => void, giveUpMs = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const socket = connect(port, '127.0.0.1', () => send(socket))
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', () => {}) // a reset after the answer changes nothing
    // A deadline, not an idle timeout: a trickling client is never idle.
    const deadline = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer within ${giveUpMs} ms`))
    }, giveUpMs)
    socket.on('close', () => {
      clearTimeout(deadline)
      const text = Buffer.concat(chunks).toString('utf8')
      const [head = '', body = ''] = text.split('\r\n\r\n', 2)
      const [status, ...lines] = head.split('\r\n')
      const statusCode = Number(/^HTTP\/1\.1 (\d{3})/.exec(status ?? '')?.[1])
      if (Number.isNaN(statusCode)) return reject(new Error(`not an HTTP answer: ${JSON.stringify(text.slice(0, 200))}`))
      const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]))
      resolve({ statusCode, headers, body, ms: Date.now() - started, json: () => JSON.parse(body) })
    })
  })
}

const loginHead = (length: number, more = '') =>
  `POST /api/login HTTP/1.1\r\nHost: auth.test\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n${more}\r\n`

test('HTTP-layer errors carry the error contract', async (t) => {
  const port = await listen(t)

  t.test(`a stalled body gets 408 REQUEST_TIMEOUT once the request timeout (${REQUEST_TIMEOUT} ms) is over`, async (t) => {
    const response = await exchange(port, (socket) => socket.write(`${loginHead(100)}{"email":`))
    assertError(t, response, 408, 'REQUEST_TIMEOUT')
    t.ok(response.ms >= REQUEST_TIMEOUT - 50 && response.ms < REQUEST_TIMEOUT + 750, `answered after ${response.ms} ms`)
  })

  t.test('a body trickled a byte at a time (slowloris) gets the 408 just as soon', async (t) => {
    let timer: NodeJS.Timeout | undefined
    const response = await exchange(port, (socket) => {
      socket.write(loginHead(1000))
      timer = setInterval(() => socket.writable && socket.write(' '), 100)
    })
    clearInterval(timer)
    assertError(t, response, 408, 'REQUEST_TIMEOUT')
    t.ok(response.ms < REQUEST_TIMEOUT + 750, `answered after ${response.ms} ms`)
  })

  t.test('headers trickled a line at a time get the 408 too', async (t) => {
    let timer: NodeJS.Timeout | undefined
    const response = await exchange(port, (socket) => {
      socket.write('GET /api/user HTTP/1.1\r\nHost: auth.test\r\n')
      timer = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 100)
    })
    clearInterval(timer)
    assertError(t, response, 408, 'REQUEST_TIMEOUT')
    t.ok(response.ms < REQUEST_TIMEOUT + 750, `answered after ${response.ms} ms`)
  })

  const malformed: [string, string][] = [
    ['a malformed request line', 'NOT AN HTTP REQUEST\r\n\r\n'],
    ['a header line without a colon', 'GET /health/live HTTP/1.1\r\nHost: auth.test\r\nno colon here\r\n\r\n'],
    ['Content-Length and Transfer-Encoding together (request smuggling)', `${loginHead(2, 'Transfer-Encoding: chunked\r\n')}0\r\n\r\n`]
  ]
  for (const [description, request] of malformed) {
    t.test(`400 VALIDATION_FAILED for ${description}`, async (t) => {
      assertError(t, await exchange(port, (socket) => socket.write(request)), 400, 'VALIDATION_FAILED')
    })
  }

  t.test('a header section over 16 KiB is 431 HEADERS_TOO_LARGE', async (t) => {
    const response = await exchange(port, (socket) => socket.write(`GET /health/live HTTP/1.1\r\nHost: auth.test\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`))
    assertError(t, response, 431, 'HEADERS_TOO_LARGE')
  })

  t.test('a body over 16 KiB is 413 BODY_TOO_LARGE, declared or chunked', async (t) => {
    assertError(t, await exchange(port, (socket) => socket.write(loginHead(20 * 1024))), 413, 'BODY_TOO_LARGE')
    const chunk = `{"email":"${'e'.repeat(20 * 1024)}"}`
    const chunked = `POST /api/login HTTP/1.1\r\nHost: auth.test\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`
    assertError(t, await exchange(port, (socket) => socket.write(chunked)), 413, 'BODY_TOO_LARGE')
  })

  t.test('an empty JSON body where one is required is 400 VALIDATION_FAILED', async (t) => {
    assertError(t, await exchange(port, (socket) => socket.write(loginHead(0))), 400, 'VALIDATION_FAILED')
    const chunked = 'POST /api/login HTTP/1.1\r\nHost: auth.test\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
    assertError(t, await exchange(port, (socket) => socket.write(chunked)), 400, 'VALIDATION_FAILED')
  })

  t.test('the server still serves afterwards', async (t) => {
    const response = await exchange(port, (socket) => socket.write('GET /health/live HTTP/1.1\r\nHost: auth.test\r\nConnection: close\r\n\r\n'))
    t.equal(response.statusCode, 200)
  })
})
