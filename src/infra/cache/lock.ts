/**
 * The cross-instance load lock: on a miss one instance loads while the others
 * poll the store for its result (RELIABILITY H5: ≤ 1 load per key across
 * instances). The lock expires, so a crashed or slow holder only delays the
 * others by its TTL; then they take over.
 */
import { decode, type Envelope } from './envelope.ts';
import { type Attempt, type GuardedStore, UNAVAILABLE } from './guarded-store.ts';

/** How often a waiter re-reads the store for the holder's value, ms. */
const POLL_MS = 20;

/** What waiting for another loader ends with: its value, or the lock (owner token, undefined on timeout). */
export type Waited<T> = { value: Envelope<T> } | { owner: Attempt<string | undefined> };

export class LoadLock {
  readonly #store: GuardedStore;
  readonly #lockKey: (entryKey: string) => string;
  readonly #ttlMs: number;

  /** `ttlMs`: how long a holder may load before waiters give up and load themselves. */
  constructor(store: GuardedStore, lockKey: (entryKey: string) => string, ttlMs: number) {
    this.#store = store;
    this.#lockKey = lockKey;
    this.#ttlMs = ttlMs;
  }

  /** Takes the lock of entry `key` if free; returns the owner token, or undefined if another instance holds it. */
  acquire(key: string): Promise<Attempt<string | undefined>> {
    return this.#store.acquire(this.#lockKey(key), this.#ttlMs);
  }

  /**
   * Polls the store until the holder's value of `key` appears, or takes over
   * the lock once it is released; after the lock's TTL, gives up (owner undefined)
   * and the caller loads without it.
   */
  async awaitHolder<T>(key: string): Promise<Waited<T>> {
    const deadline = Date.now() + this.#ttlMs;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      const entry = await this.#store.read(key);
      if (entry === UNAVAILABLE) return { owner: UNAVAILABLE };
      const cached = decode<T>(entry);
      if (cached?.fresh) return { value: cached.envelope };
      const owner = await this.acquire(key);
      if (owner !== undefined) return { owner };
    }
    return { owner: undefined };
  }

  /** Releases the lock of `key` if `token` still owns it. */
  async release(key: string, token: string): Promise<void> {
    await this.#store.release(this.#lockKey(key), token);
  }
}
