/**
 * Values that may be used once: a client assertion's `jti` (RFC 7523 §3, item 7), until the assertion
 * expires. Shared by every instance (Redis, or the embedded revocation database), so that a replay is
 * refused wherever it lands. Backends: `redis.ts` and `sqlite.ts`, beside the other revocation stores.
 * Every method throws StoreUnavailableError when the store cannot answer (503, never a pass).
 */
export interface SingleUseStore {
  /**
   * True the first time `value` is used in `scope` before `until` (ms, the service's clock); false for
   * every later use until then.
   */
  use(scope: string, value: string, now: number, until: number): Promise<boolean>
}
