/**
 * A bounded map for hot-path caches, kept in two generations of a plain Map.
 * A read looks in the current generation, then in the previous one (moving
 * the entry up); when the current generation holds half the bound, it becomes
 * the previous one and the older one is dropped. So at most `max` entries
 * live at once, and an entry read at least once per `max / 2` insertions is
 * never dropped: an approximate LRU whose hit is one `Map.get`. lru-cache's
 * `get` destructures its options, checks TTLs and a diagnostics channel and
 * relinks its list on every hit: about 4 % of `/v1/me`'s CPU for its two
 * lookups per request (verified token, account).
 *
 * `undefined` is not a storable value (a read answers it for a miss).
 */
export class RecentMap<K, V> {
  readonly #half: number;
  #current = new Map<K, V>();
  #previous = new Map<K, V>();

  constructor(max: number) {
    this.#half = Math.max(1, Math.floor(max / 2));
  }

  get(key: K): V | undefined {
    const hit = this.#current.get(key);
    if (hit !== undefined) return hit;
    const older = this.#previous.get(key);
    if (older !== undefined) {
      this.#previous.delete(key);
      this.#add(key, older);
    }
    return older;
  }

  set(key: K, value: V): void {
    if (this.#current.has(key)) {
      this.#current.set(key, value);
      return;
    }
    this.#previous.delete(key);
    this.#add(key, value);
  }

  delete(key: K): void {
    this.#current.delete(key);
    this.#previous.delete(key);
  }

  clear(): void {
    this.#current.clear();
    this.#previous.clear();
  }

  /** Entries held now (at most the bound). */
  get size(): number {
    return this.#current.size + this.#previous.size;
  }

  #add(key: K, value: V): void {
    if (this.#current.size >= this.#half) {
      this.#previous = this.#current;
      this.#current = new Map();
    }
    this.#current.set(key, value);
  }
}
