/** A bounded map that forgets its least recently used half at once: a lookup is one or two Map reads. */
export class GenerationalCache<V> {
  private current = new Map<string, V>()
  private previous = new Map<string, V>()
  constructor(private readonly generationSize: number) {}

  get(key: string): V | undefined {
    const value = this.current.get(key)
    if (value !== undefined) return value
    const old = this.previous.get(key)
    if (old !== undefined) this.set(key, old)
    return old
  }

  set(key: string, value: V): void {
    if (this.current.size >= this.generationSize) {
      this.previous = this.current
      this.current = new Map()
    }
    this.current.set(key, value)
  }

  delete(key: string): void {
    this.current.delete(key)
    this.previous.delete(key)
  }
}
