import type { RecordVersions } from '../stores/record-versions.js'
import type { Clock } from './clock.js'
import { GenerationalCache } from '@jwt-auth-service/verifier/feed'


/**
 * Records of a database of its own (PostgreSQL) kept in memory by id (users in accounts.ts, clients in
 * clients.ts), so that a hot path costs no database round trip. A record may be used only while:
 * - its version (in Redis, bumped by every change of the record) is the one it was read under: the caller
 *   reads the version in the round trip it makes anyway, and loads the record again when it differs;
 * - the database is known to answer (an unreachable store is a 503, as without the cache);
 * - it is younger than `ttlMs`, which bounds what a Redis that lost its data (and so its versions) could leave stale.
 */
export class RecordCache<T extends object> {
  private readonly records: GenerationalCache<{ value: T; version: string; until: number }>

  constructor(
    private readonly options: {
      versions: Pick<RecordVersions, 'current'>
      read: (id: string) => Promise<T | undefined>
      reachable: () => boolean
      clock: Clock
      ttlMs: number
      size: number
    }
  ) {
    this.records = new GenerationalCache(options.size)
  }

  /** The cached record and the version it was read under, when it may be used once that version is confirmed. */
  candidate(id: string): { value: T; version: string } | undefined {
    const cached = this.records.get(id)
    return cached !== undefined && cached.until > this.options.clock.now() && this.options.reachable() ? cached : undefined
  }

  /** The record from the store, cached under the version read before it (a change in between shows as a newer version). */
  async load(id: string, knownVersion?: string): Promise<T | undefined> {
    const version = knownVersion ?? (await this.options.versions.current(id))
    const value = await this.options.read(id)
    if (value === undefined) this.records.delete(id)
    else this.records.set(id, { value: Object.freeze(value), version, until: this.options.clock.now() + this.options.ttlMs })
    return value
  }
}
