const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const

/**
 * A duration setting in seconds: `900`, or a whole number with a unit, `15m`, `1h`, `14d`.
 * Fractions (`1.5h`), combinations (`1h30m`) and other units are refused rather than guessed at:
 * undefined. A bound far beyond any lifetime keeps millisecond arithmetic and Redis expiries exact.
 */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim())
  if (match === null) return undefined
  const seconds = Number(match[1]) * (match[2] === '' ? 1 : UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS])
  return Number.isSafeInteger(seconds * 1000) ? seconds : undefined
}

export const DURATION_SYNTAX = 'whole seconds (900) or a whole number with a unit s, m, h or d (15m, 1h, 14d)'
