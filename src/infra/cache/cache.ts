/**
 * The cache-aside API modules use: `getOrSet(namespace, id, loader, options)`,
 * `invalidate(namespace, ids)` after a commit, and versioned pages for lists.
 *
 * Tiers: an optional per-instance L1 (l1.ts) in front of the shared CacheStore
 * (Redis, or process memory in embedded mode), read through read-through.ts.
 * This class only routes: L1-eligible reads share one in-process load
 * (single-flight.ts), authorization reads share one read per event-loop turn
 * (turn-batch.ts); invalidations drop local copies, then go to the store and
 * the bus (shared-invalidation.ts). docs/speed-layer.md proves no stale value
 * survives a write. When Redis is unavailable (the shared circuit is open),
 * the store is skipped and reads go to the loader.
 */
import type { RedisHealth } from '../redis/health.ts';
import type { CacheBus } from './bus.ts';
import { GuardedStore, UNAVAILABLE } from './guarded-store.ts';
import { L1 } from './l1.ts';
import { LoadLock } from './lock.ts';
import { type CacheMetrics, type ReadOptions, ReadThrough } from './read-through.ts';
import { SharedInvalidation } from './shared-invalidation.ts';
import { SingleFlight } from './single-flight.ts';
import type { CacheStore } from './store.ts';
import { TurnBatch } from './turn-batch.ts';

export type { CacheMetrics } from './read-through.ts';

export interface CacheOptions extends ReadOptions {
  /** False for authorization data (sessions, membership, account state): never served from L1. */
  l1?: boolean;
}

/** TTL tiers, ms. */
export const Ttl = { short: 60_000, medium: 300_000, long: 1_800_000 } as const;

export interface CacheDeps {
  /** The shared tier. */
  store: CacheStore;
  /** Gates the store: when present and not available, the store is skipped. Absent for the in-memory store. */
  health?: RedisHealth;
  /** Present in services mode: enables L1 and cross-instance L1 invalidation. */
  bus?: CacheBus;
  entryKey: (namespace: string, id: string) => string;
  lockKey: (entryKey: string) => string;
  metrics: CacheMetrics;
  log: { warn(obj: object, msg: string): void };
  l1TtlMs?: number;
  l1MaxEntries?: number;
  /** How long a lock holder may load before waiters give up and load themselves, ms. */
  lockTtlMs?: number;
}

export class Cache {
  readonly #entryKey: CacheDeps['entryKey'];
  readonly #bus: CacheBus | undefined;
  readonly #store: GuardedStore;
  readonly #reads: ReadThrough;
  readonly #l1: L1 | undefined;
  readonly #flights = new SingleFlight();
  readonly #turn = new TurnBatch();
  readonly #shared: SharedInvalidation;

  constructor(deps: CacheDeps) {
    this.#entryKey = deps.entryKey;
    this.#bus = deps.bus;
    this.#store = new GuardedStore(deps.store, deps.health, deps.log);
    const lock = new LoadLock(this.#store, deps.lockKey, deps.lockTtlMs ?? 2000);
    this.#reads = new ReadThrough(this.#store, lock, deps.metrics, deps.log);
    this.#l1 = deps.bus ? new L1(deps.l1MaxEntries ?? 10_000, deps.l1TtlMs ?? 5000) : undefined;
    this.#shared = new SharedInvalidation(this.#store, deps.bus, (keys) => this.#forgetLocally(keys));
    deps.health?.on('change', (state) => {
      // While Redis is away no instance can announce invalidations: start clean either way.
      this.#forgetEverything();
      if (state === 'closed') void this.#shared.replay();
    });
  }

  /** How many invalidations Redis has not taken yet (queued for replay); readiness is degraded while > 0. */
  get pendingInvalidations(): number {
    return this.#shared.pending;
  }

  /** Subscribes to the bus; call once at start-up. */
  async start(): Promise<void> {
    await this.#bus?.subscribe(
      (keys) => this.#forgetLocally(keys),
      () => this.#forgetEverything(),
    );
  }

  /**
   * Returns the cached value of `namespace:id`, loading and caching it on a miss.
   * Not `async`: it hands back the read's own promise (one hop less per request).
   */
  getOrSet<T>(namespace: string, id: string, loader: () => Promise<T>, options: CacheOptions): Promise<T> {
    const key = this.#entryKey(namespace, id);
    // Redis may still hold the value this instance's own write could not invalidate there.
    if (this.#shared.isPending(key)) return this.#reads.load(namespace, loader);
    if (options.l1 === false) {
      // Authorization data: never L1, never a read sent in an earlier turn (turn-batch.ts).
      return this.#turn.read(key, () => this.#reads.read(namespace, key, loader, options, undefined));
    }
    const hit = this.#l1?.get(key);
    if (hit) {
      this.#reads.count(namespace, 'l1_hit');
      return Promise.resolve(hit.value as T);
    }
    return (
      this.#flights.get<T>(key) ??
      this.#flights.track(key, this.#reads.read(namespace, key, loader, options, this.#l1))
    );
  }

  /**
   * Drops cached values. Call after the SQL transaction has committed (see
   * infra/db/unit-of-work.ts), never before: a reader could otherwise re-cache
   * the old row between the invalidation and the commit.
   */
  async invalidate(namespace: string, ids: readonly string[]): Promise<void> {
    const keys = ids.map((id) => this.#entryKey(namespace, id));
    this.#forgetLocally(keys);
    await this.#shared.invalidate(keys);
    // A read started while the store was being invalidated may hold the old value: later reads
    // of this turn must not join it (in-process callers can invalidate and read within one turn).
    this.#turn.forget(keys);
  }

  /**
   * A page of a collection, cached under the collection's current version, so
   * `bump(collection)` makes every page of it stale in O(1).
   */
  async getOrSetPage<T>(
    namespace: string,
    collection: string,
    page: string,
    loader: () => Promise<T>,
    options: CacheOptions,
  ): Promise<T> {
    const version = await this.#version(collection);
    if (version === UNAVAILABLE) return this.#reads.load(namespace, loader);
    return this.getOrSet(namespace, `${collection}@${version}:${page}`, loader, options);
  }

  /**
   * A collection's version token. With an L1 (services mode) it is kept there like
   * any public entry: a bump on this instance drops it at once, a bump on another
   * reaches it over the bus, and a lost bus message leaves it stale for at most
   * the L1 TTL — so a warm page costs no Redis round trip at all.
   */
  async #version(collection: string): Promise<string | typeof UNAVAILABLE> {
    const l1 = this.#l1;
    if (!l1) return this.#store.version(collection);
    const key = this.#versionKey(collection);
    const hit = l1.get(key);
    if (hit) return hit.value as string;
    const epoch = l1.epoch;
    const version = await this.#store.version(collection);
    if (version !== UNAVAILABLE) l1.remember(key, { v: version, e: Number.MAX_SAFE_INTEGER }, epoch);
    return version;
  }

  #versionKey(collection: string): string {
    return this.#entryKey('collection-version', collection);
  }

  /** Makes every cached page of `collections` unreachable. Call after commit, like `invalidate`. */
  async bump(collections: readonly string[]): Promise<void> {
    const keys = collections.map((c) => this.#versionKey(c));
    this.#forgetLocally(keys);
    await this.#shared.bump(collections);
    // A version read while the bump was on its way may hold the old token: drop it again.
    this.#forgetLocally(keys);
    const bus = this.#bus;
    if (bus) await this.#store.attempt(() => bus.publish(keys));
  }

  /** Drops local copies of `keys`: a read that starts after this never sees a value loaded before it. */
  #forgetLocally(keys: readonly string[]): void {
    this.#l1?.forget(keys);
    this.#flights.forget(keys);
    this.#turn.forget(keys);
  }

  /** Drops all local copies when invalidations may have been missed (bus gap, Redis outage). */
  #forgetEverything(): void {
    this.#l1?.clear();
    this.#flights.clear();
  }
}
