/**
 * L1: the per-instance bounded map in front of the store, for non-authorization data.
 * Every invalidation this instance learns of (local or bus) advances an epoch
 * and stamps the key, so a value read before the invalidation never enters L1.
 */
import { RecentMap } from '../../lib/recent-map.ts';
import type { Envelope } from './envelope.ts';

/** An L1 entry: the value and when it stops being fresh, epoch ms. */
export interface L1Entry {
  value: unknown;
  freshUntil: number;
}

export class L1 {
  readonly #entries: RecentMap<string, L1Entry>;
  /** Upper bound on an entry's life, ms: how long a missed bus message can leave it stale. */
  readonly #ttlMs: number;
  /** Incremented by every invalidation this instance learns of. */
  #epoch = 0;
  /** Epoch of the last whole-L1 clear. */
  #clearedAt = 0;
  /** Epoch at which each key was last invalidated (bounded; an evicted stamp only loses the guard for very old keys). */
  readonly #invalidatedAt = new RecentMap<string, number>(100_000);

  constructor(maxEntries: number, ttlMs: number) {
    this.#entries = new RecentMap(maxEntries);
    this.#ttlMs = ttlMs;
  }

  /** The current epoch: take it when a read begins and pass it to `remember`. */
  get epoch(): number {
    return this.#epoch;
  }

  /** The entry for `key` if it is still fresh. */
  get(key: string): L1Entry | undefined {
    const hit = this.#entries.get(key);
    return hit && hit.freshUntil > Date.now() ? hit : undefined;
  }

  /**
   * Puts a value in L1 unless the key — or the whole L1 — was invalidated after
   * `epoch`, the moment its read began: the value may predate the write.
   */
  remember(key: string, envelope: Envelope<unknown>, epoch: number): void {
    if (this.#clearedAt > epoch || (this.#invalidatedAt.get(key) ?? -1) > epoch) return;
    // The entry's own freshness bounds its life (`get` checks it): no per-entry timers or TTL tables.
    const freshUntil = Math.min(envelope.e, Date.now() + this.#ttlMs);
    if (freshUntil > Date.now()) this.#entries.set(key, { value: envelope.v, freshUntil });
  }

  /** Drops `keys` and stamps them, so reads already under way cannot put them back. */
  forget(keys: readonly string[]): void {
    this.#epoch += 1;
    for (const key of keys) {
      this.#invalidatedAt.set(key, this.#epoch);
      this.#entries.delete(key);
    }
  }

  /** Drops everything, for when invalidations may have been missed (bus gap, Redis outage). */
  clear(): void {
    this.#epoch += 1;
    this.#clearedAt = this.#epoch;
    this.#entries.clear();
  }
}
