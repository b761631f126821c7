import type { FastifyRequest } from 'fastify'

/**
 * Runs `work` once the answer is written (Fastify writes it in this tick's promise chain; setImmediate comes
 * after it), so that neither the answer nor its time depends on the work: a mail, say. A failure is logged,
 * never answered.
 */
export function afterAnswer(request: FastifyRequest, what: string, work: () => Promise<void>, details: object = {}): void {
  setImmediate(() => {
    work().catch((error: Error) => request.log.error({ err: { message: error.message }, ...details }, `${what} failed after the answer`))
  })
}
