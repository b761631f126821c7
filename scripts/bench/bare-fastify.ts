/**
 * The bench's baseline: bare Fastify (the service's own version), no plugin, answering `GET /ping` with
 * JSON, in a process of its own. Started by scripts/bench.ts with PORT; prints `ready` once listening.
 */
import Fastify from 'fastify'

const app = Fastify({ logger: false })
app.get('/ping', async () => ({ pong: true }))

await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })
console.log('ready')
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)))
