import { acknowledged, indeterminate, type Fault, type History, type Op, type TokenRecord } from './history.js'

/**
 * The checker: what the history shows, against what the service promises, whatever the faults.
 *
 * 1. No revoked token is accepted later than the bound after the answer of the call that revoked it: at
 *    once by a strict instance, within REVOCATION_MAX_LAG_MS by a replica or a library (its target's bound).
 * 2. No good token gets a 401: a token is good from its issue until a call that may revoke it was sent
 *    (acknowledged or not: a 503 or a cut connection may have revoked it), until a loss of Redis' data, or
 *    until its expiry. A 503 is always allowed (fail closed), and must carry Retry-After.
 * 3. Nothing acknowledged is lost: with Redis on AOF, an acknowledged revocation that a restart forgot shows
 *    as a violation of 1, an acknowledged session that it forgot as one of 2.
 * 4. Every part recovers: once RECOVERY_MS have passed since the last fault healed (and before the next
 *    begins), no target answers every verification with 503 for STUCK_MS or longer. A 503 is right while a
 *    part is down, not for good.
 *
 * Revocations, by the call that makes them:
 *   refresh   the presented token, at the answer
 *   logout    every token of the presented token's session
 *   password  every token of the user's other sessions (logged in before the change was sent; those logging in
 *             meanwhile may or may not be ended)
 *   revoke    the presented token (/oauth/revoke)
 *   rotate    every token of the client granted before the rotation was sent (those granted meanwhile: maybe)
 *   flush     (a fault: Redis loses its data) every token issued before it began (meanwhile: maybe)
 */
/**
 * How soon after every fault has healed everything must answer again (ms), and how long a target may then
 * still refuse every verification with 503 (a moment's staleness on a busy machine is fail-closed, not stuck).
 */
export const RECOVERY_MS = 3_000
export const STUCK_MS = 1_000

export interface Violation {
  property: 'revoked token accepted' | 'good token refused' | '503 without Retry-After' | 'not recovered'
  token?: string
  op: Op
  /** What the checker held against the op. */
  detail: string
  /** The ops and faults that show it, oldest first. */
  excerpt: string[]
}

interface Knowledge {
  /** When the first acknowledged revocation of the token was answered. */
  revokedAt?: number
  /** When a call that may have revoked it was first sent. */
  mayBeRevokedFrom: number
}

/** A 401 from a verification; for an introspection, `active: false` (recorded as 401 too). */
const refused = (op: Op): boolean => op.status === 401
const accepted = (op: Op): boolean => op.status === 200

/** What the history tells of each token's revocation. */
export function revocationsOf(history: History): Map<string, Knowledge> {
  const { ops, tokens, faults } = history
  const byJti = new Map(tokens.map((token) => [token.jti, token]))
  const opById = new Map(ops.map((op) => [op.id, op]))
  // A token may be refused from a second before its exp on (the verifiers' clocks may run a little ahead).
  const knowledge = new Map<string, Knowledge>(tokens.map((token) => [token.jti, { mayBeRevokedFrom: token.expMs + history.wallToMonotonic - 1_000 }]))

  /** The token may be revoked from `sentAt` on; it is revoked from `answeredAt` on when `definite`. */
  const revoke = (jti: string, from: number, at: number | undefined): void => {
    const known = knowledge.get(jti)
    if (known === undefined) return
    known.mayBeRevokedFrom = Math.min(known.mayBeRevokedFrom, from)
    if (at !== undefined) known.revokedAt = Math.min(known.revokedAt ?? Infinity, at)
  }
  const issuedAt = (token: TokenRecord): { sentAt: number; answeredAt: number } => {
    const op = opById.get(token.issuedBy)!
    return { sentAt: op.sentAt, answeredAt: op.answeredAt! }
  }
  /** Every token the revoking `op` (or fault) touches: definite ones issued before it was sent, maybe the others. */
  const revokeAll = (touched: TokenRecord[], from: number, at: number | undefined): void => {
    for (const token of touched) {
      const issued = issuedAt(token)
      if (issued.sentAt > (at ?? Infinity)) continue // issued after the revocation was answered: untouched
      revoke(token.jti, from, issued.answeredAt < from ? at : undefined)
    }
  }

  for (const op of ops) {
    if (op.kind === 'verify' || op.kind === 'login' || op.kind === 'grant' || op.kind === 'register') continue
    if (!acknowledged(op) && !indeterminate(op)) continue // refused: it did nothing
    const at = acknowledged(op) ? op.answeredAt : undefined
    const presented = op.token === undefined ? undefined : byJti.get(op.token)
    switch (op.kind) {
      case 'refresh':
      case 'revoke':
        if (presented !== undefined) revoke(presented.jti, op.sentAt, at)
        break
      case 'logout':
        if (presented !== undefined) revokeAll(tokens.filter((token) => token.sid === presented.sid), op.sentAt, at)
        break
      case 'password':
        if (presented !== undefined) revokeAll(tokens.filter((token) => token.kind === 'user' && token.owner === presented.owner && token.sid !== presented.sid), op.sentAt, at)
        break
      case 'rotate':
        revokeAll(tokens.filter((token) => token.kind === 'client' && token.owner === op.client), op.sentAt, at)
        break
    }
  }
  for (const fault of faults) {
    if (fault.kind === 'flush') revokeAll(tokens, fault.startedAt, fault.endedAt)
  }
  return knowledge
}

export function check(history: History): Violation[] {
  const knowledge = revocationsOf(history)
  const opById = new Map(history.ops.map((op) => [op.id, op]))
  const bounds = new Map(history.targets.map((target) => [target.name, target.boundMs]))
  const violations: Violation[] = []
  const quiet = quietSince(history)
  /** Per target, the first of the 503s it has answered in a row while all was quiet, and whether it was reported. */
  const streaks = new Map<string, { first: Op; reported: boolean }>()
  for (const op of history.ops) {
    if (op.kind !== 'verify' || op.answeredAt === undefined) continue
    const calm = quiet(op.sentAt)
    if (op.status === 503 && calm >= RECOVERY_MS) {
      const streak = streaks.get(op.target) ?? { first: op, reported: false }
      streaks.set(op.target, streak)
      const stuck = op.sentAt - streak.first.sentAt
      if (stuck >= STUCK_MS && !streak.reported) {
        streak.reported = true
        const detail = `${op.target} answered every verification 503 ${op.code ?? ''} for ${stuck.toFixed(0)} ms, from ${calm.toFixed(0)} ms after the last fault healed`
        violations.push({ property: 'not recovered', token: op.token, op, detail, excerpt: [] })
      }
      continue
    }
    if (op.status !== 503 && op.status !== 0) streaks.delete(op.target)
    if (op.status === 503 && op.noRetryAfter === true) {
      violations.push({ property: '503 without Retry-After', op, detail: `${op.target} answered 503 without Retry-After`, excerpt: [] })
    }
    const known = op.token === undefined ? undefined : knowledge.get(op.token)
    if (known === undefined) continue
    const bound = bounds.get(op.target) ?? 0
    if (accepted(op) && known.revokedAt !== undefined && op.sentAt > known.revokedAt + bound) {
      const late = op.sentAt - known.revokedAt
      violations.push({ property: 'revoked token accepted', token: op.token, op, detail: `accepted ${late.toFixed(0)} ms after the revocation was answered (bound ${bound} ms)`, excerpt: [] })
    }
    if (refused(op) && op.answeredAt < known.mayBeRevokedFrom) {
      violations.push({ property: 'good token refused', token: op.token, op, detail: `401 ${op.code ?? ''} for a token nothing had revoked`, excerpt: [] })
    }
  }
  for (const violation of violations) violation.excerpt = excerpt(history, violation, opById)
  return violations.sort((a, b) => a.excerpt.length - b.excerpt.length)
}

/**
 * Per target, the latest acceptance of a revoked token: how long after the revocation's answer the
 * verification was sent (ms; negative when every one was sent before the answer); -Infinity without any.
 */
export function worstAcceptance(history: History): Map<string, number> {
  const knowledge = revocationsOf(history)
  const worst = new Map<string, number>(history.targets.map((target) => [target.name, Number.NEGATIVE_INFINITY]))
  for (const op of history.ops) {
    const revokedAt = op.kind === 'verify' && accepted(op) && op.token !== undefined ? knowledge.get(op.token)?.revokedAt : undefined
    if (revokedAt !== undefined) worst.set(op.target, Math.max(worst.get(op.target)!, op.sentAt - revokedAt))
  }
  return worst
}

/** For a moment, how long (ms) no fault had been active then: since the run began, or the last fault ended. */
function quietSince(history: History): (moment: number) => number {
  const start = history.ops[0]?.sentAt ?? 0
  return (moment) => {
    let since = moment - start
    for (const fault of history.faults) {
      if (fault.startedAt > moment) continue
      since = Math.min(since, moment - (fault.endedAt ?? Infinity))
    }
    return since
  }
}

const at = (history: History, ms: number): string => `${((ms - (history.ops[0]?.sentAt ?? 0)) / 1000).toFixed(3)}s`

function describe(history: History, op: Op): string {
  const answered = op.answeredAt === undefined ? 'no answer' : `→ ${at(history, op.answeredAt)} ${op.status}${op.code === undefined ? '' : ` ${op.code}`}`
  const what = [op.token && `token ${op.token.slice(0, 8)}`, op.produced && `gave ${op.produced.slice(0, 8)}`, op.client && `client ${op.client}`].filter(Boolean).join(', ')
  return `${at(history, op.sentAt)} ${op.kind} at ${op.target}${what === '' ? '' : ` (${what})`} ${answered}`
}

function describeFault(history: History, fault: Fault): string {
  return `${at(history, fault.startedAt)} FAULT ${fault.kind} ${fault.target}${fault.endedAt === undefined ? '' : ` until ${at(history, fault.endedAt)}`}`
}

/** The ops on the violation's token (and its session's ends) and the faults around them, in time order. */
function excerpt(history: History, violation: Violation, opById: Map<number, Op>): string[] {
  if (violation.property === 'not recovered') {
    const last = history.faults.filter((fault) => fault.startedAt <= violation.op.sentAt).at(-1)
    return [...(last === undefined ? [] : [describeFault(history, last)]), describe(history, violation.op)]
  }
  const token = history.tokens.find((record) => record.jti === violation.token)
  if (token === undefined) return [describe(history, violation.op)]
  const sessionTokens = new Set(history.tokens.filter((record) => record.sid !== undefined && record.sid === token.sid).map((record) => record.jti))
  const related: Op[] = history.ops.filter(
    (op) =>
      op.id === token.issuedBy ||
      op.id === violation.op.id ||
      (op.kind !== 'verify' && op.token !== undefined && (op.token === token.jti || (op.kind === 'logout' && sessionTokens.has(op.token)))) ||
      (op.kind === 'password' && token.kind === 'user' && history.tokens.find((record) => record.jti === op.token)?.owner === token.owner) ||
      (op.kind === 'rotate' && token.kind === 'client' && op.client === token.owner)
  )
  const from = opById.get(token.issuedBy)!.sentAt
  const to = violation.op.answeredAt ?? violation.op.sentAt
  related.splice(0, related.length, ...related.filter((op) => op.sentAt >= from && op.sentAt <= to))
  const around = history.faults.filter((fault) => fault.startedAt <= to && (fault.endedAt ?? Infinity) >= from)
  const lines = [
    ...related.map((op) => ({ time: op.sentAt, line: describe(history, op) })),
    ...around.map((fault) => ({ time: fault.startedAt, line: describeFault(history, fault) }))
  ]
  return lines.sort((a, b) => a.time - b.time).map(({ line }) => line)
}
