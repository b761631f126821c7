import type { Rotation } from './index.js'

/*
 * The state of a token id in the deny-list: one codec, written by both backends and read by the
 * embedded one (Redis' scripts read the same strings: lua/dead.lua, lua/rotate.lua, lua/check.lua).
 *   p:<id>:<pending until>   a rotation in flight: refused; dead (as if absent) from <pending until> on
 *   x:<grace end>.<id>       rotated: refused; refresh within the grace gets the child, after it is reuse.
 *                            The attempt id names this attempt's value, so that its confirmation and
 *                            rollback touch no other
 *   x:<grace end>            the same, once a repeat has handed the child out (no rollback may undo it)
 *   l                        logged out, not yet acknowledged: refused, except by the logout (a retry)
 *   r                        revoked
 * A value that is none of these is read as revoked: a state nobody wrote fails closed.
 */
export type TokenState =
  | { kind: 'pending'; id: string; pendingUntil: number }
  | { kind: 'rotated'; graceEnds: number; id?: string }
  | { kind: 'ending' }
  | { kind: 'revoked' }

export function encodeTokenState(state: TokenState): string {
  switch (state.kind) {
    case 'pending':
      return `p:${state.id}:${state.pendingUntil}`
    case 'rotated':
      return state.id === undefined ? `x:${state.graceEnds}` : `x:${state.graceEnds}.${state.id}`
    case 'ending':
      return 'l'
    case 'revoked':
      return 'r'
  }
}

const PENDING = /^p:(\d+):(\d+)$/
const ROTATED = /^x:(\d+)(?:\.(\d+))?$/

export function decodeTokenState(value: string): TokenState {
  const pending = PENDING.exec(value)
  if (pending !== null) return { kind: 'pending', id: pending[1]!, pendingUntil: Number(pending[2]) }
  const rotated = ROTATED.exec(value)
  if (rotated !== null) return rotated[2] === undefined ? { kind: 'rotated', graceEnds: Number(rotated[1]) } : { kind: 'rotated', graceEnds: Number(rotated[1]), id: rotated[2] }
  if (value === 'l') return { kind: 'ending' }
  return { kind: 'revoked' }
}

/** What a stored value means at `now`: undefined when there is none, or it is a pending rotation past its bound. */
export function tokenStateAt(value: string | undefined, now: number): TokenState | undefined {
  if (value === undefined) return undefined
  const state = decodeTokenState(value)
  return state.kind === 'pending' && state.pendingUntil <= now ? undefined : state
}

/** This attempt's pending value, and the value its confirmation turns it into. */
export const pendingState = ({ id, pendingUntil }: Rotation): string => encodeTokenState({ kind: 'pending', id, pendingUntil })
export const rotatedState = ({ id, now, graceMs }: Rotation): string => encodeTokenState({ kind: 'rotated', graceEnds: now + graceMs, id })
export const ENDING = encodeTokenState({ kind: 'ending' })
export const REVOKED = encodeTokenState({ kind: 'revoked' })
