import { DURATION_SYNTAX, parseDuration } from './durations.js'

/** The parts of a setting's schema that decide how its text is read and how a refusal is worded. */
export interface SettingSchema {
  type?: string
  anyOf?: { const?: unknown }[]
  minimum?: number
  maximum?: number
  /** Ours: the value may carry a unit (15m), and is kept in seconds. */
  duration?: boolean
  /** Ours: what a `pattern` means, in words. */
  expected?: string
}

/** A refusal: what the setting accepts, worded for the one line the process prints. */
export type Refusal = { reason: string }

function range(schema: SettingSchema): string {
  if (schema.minimum !== undefined && schema.maximum !== undefined) return ` from ${schema.minimum} to ${schema.maximum}`
  if (schema.minimum !== undefined) return ` of at least ${schema.minimum}`
  return ''
}

/** The allowed values of a union of literals (JWT_ALGORITHM, LOG_LEVEL), or undefined for another schema. */
function literals(schema: SettingSchema): string[] | undefined {
  const values = schema.anyOf?.map((member) => member.const)
  return values?.every((value) => typeof value === 'string') ? (values as string[]) : undefined
}

/**
 * The text of a setting as typebox should convert it, or a refusal. typebox alone would truncate
 * `1.5` to 1 and read `yes` as nothing in particular; these are refused here, with the allowed values.
 * Literal values are matched case-insensitively (`es256` is ES256): the case carries no meaning.
 */
export function prepareValue(schema: SettingSchema, text: string): string | Refusal {
  if (schema.duration === true) {
    const seconds = parseDuration(text)
    return seconds === undefined ? { reason: `must be a duration: ${DURATION_SYNTAX}` } : String(seconds)
  }
  if (schema.type === 'integer') return /^-?\d+$/.test(text) ? text : { reason: `must be a whole number${range(schema)}` }
  if (schema.type === 'boolean') {
    const value = text.toLowerCase()
    return value === 'true' || value === 'false' ? value : { reason: 'must be true or false' }
  }
  const allowed = literals(schema)
  if (allowed !== undefined) {
    const match = allowed.find((value) => value.toLowerCase() === text.toLowerCase())
    return match ?? { reason: `must be one of ${allowed.join(', ')}` }
  }
  return text
}

/** typebox's complaint about a converted value, in the words of prepareValue. */
export function describeProblem(schema: SettingSchema, problem: { keyword: string; message: string }): string {
  if (problem.keyword === 'minimum' || problem.keyword === 'maximum') {
    return schema.duration === true ? `must be a duration${range(schema)} seconds` : `must be a whole number${range(schema)}`
  }
  if (problem.keyword === 'pattern' && schema.expected !== undefined) return `must be ${schema.expected}`
  return problem.message
}
