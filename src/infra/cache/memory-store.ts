/**
 * CacheStore in process memory, for embedded mode: the same generation and
 * lock semantics as Redis, so the cache above it is race-free in both modes.
 * Bounded by entry count (LRU) as well as by TTL.
 */
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { type CacheStore, GENERATION_RETENTION_MS, type StoredEntry, VERSION_TTL_MS } from './store.ts';

interface Slot {
  payload?: string;
  generation: string;
}

const token = () => randomBytes(12).toString('base64url');

export class MemoryCacheStore implements CacheStore {
  readonly #entries: LRUCache<string, Slot>;
  readonly #locks = new LRUCache<string, string>({ max: 10_000, ttlAutopurge: false });
  readonly #versions = new LRUCache<string, string>({ max: 10_000 });

  constructor(maxEntries = 50_000) {
    this.#entries = new LRUCache<string, Slot>({ max: maxEntries });
  }

  async read(key: string): Promise<StoredEntry> {
    let slot = this.#entries.get(key);
    if (!slot) {
      slot = { generation: token() };
      this.#entries.set(key, slot, { ttl: GENERATION_RETENTION_MS });
    }
    return { payload: slot.payload, generation: slot.generation };
  }

  async write(key: string, payload: string, ttlMs: number, generation: string): Promise<boolean> {
    if (this.#entries.get(key)?.generation !== generation) return false;
    this.#entries.set(key, { payload, generation }, { ttl: ttlMs });
    return true;
  }

  async invalidate(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      const ttl = Math.max(this.#entries.getRemainingTTL(key), GENERATION_RETENTION_MS);
      this.#entries.set(
        key,
        { generation: token() },
        { ttl: Number.isFinite(ttl) ? ttl : GENERATION_RETENTION_MS },
      );
    }
  }

  async acquire(key: string, ttlMs: number): Promise<string | undefined> {
    if (this.#locks.get(key) !== undefined) return undefined;
    const owner = token();
    this.#locks.set(key, owner, { ttl: ttlMs });
    return owner;
  }

  async release(key: string, owner: string): Promise<void> {
    if (this.#locks.get(key) === owner) this.#locks.delete(key);
  }

  async version(collection: string): Promise<string> {
    const existing = this.#versions.get(collection);
    if (existing) return existing;
    const fresh = token();
    this.#versions.set(collection, fresh, { ttl: VERSION_TTL_MS });
    return fresh;
  }

  async bump(collections: readonly string[]): Promise<void> {
    for (const c of collections) this.#versions.set(c, token(), { ttl: VERSION_TTL_MS });
  }
}
