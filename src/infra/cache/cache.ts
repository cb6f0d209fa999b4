/**
 * The cache-aside API modules use: `getOrSet(namespace, id, loader, options)`,
 * `invalidate(namespace, ids)` after a commit, and versioned pages for lists.
 *
 * Tiers: an optional per-instance L1 (LRU, entries live ≤ `l1TtlMs`) in front
 * of the shared CacheStore (Redis, or process memory in embedded mode).
 *
 * Why no stale value survives a write (docs/speed-layer.md has the proof):
 * - L2: a loader's result is stored with a compare-and-set on the entry's
 *   generation read *before* loading; `invalidate` advances the generation, so
 *   a load that overlapped a write is never stored.
 * - L1: every local or bus invalidation stamps the key with a local epoch; a
 *   value read or loaded before that epoch is never put into L1.
 *
 * Stampedes: concurrent misses share one in-process promise (authorization
 * reads only within one event-loop turn, see #readThrough), and across
 * instances a short lock in the store lets one loader run while the others
 * poll the store for its result. Grace: an expired value is kept for `grace`
 * longer and served when the loader fails. When Redis is unavailable (the
 * shared circuit is open), L2 is skipped and reads go to the loader.
 */
import { LRUCache } from 'lru-cache';
import type { Counter } from 'prom-client';
import type { RedisHealth } from '../redis/health.ts';
import type { CacheBus } from './bus.ts';
import type { CacheStore, StoredEntry } from './store.ts';

export interface CacheOptions {
  /** How long a value is fresh, ms. */
  ttl: number;
  /** How long after `ttl` an expired value may still be served if the loader fails, ms (default 0). */
  grace?: number;
  /** False for authorization data (sessions, membership, account state): never served from L1. */
  l1?: boolean;
}

/** TTL tiers, ms. */
export const Ttl = { short: 60_000, medium: 300_000, long: 1_800_000 } as const;

export interface CacheMetrics {
  requests: Counter<'namespace' | 'result'>;
  loads: Counter<'namespace' | 'outcome'>;
}

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

interface Envelope<T> {
  v: T;
  /** Fresh until, epoch ms. */
  e: number;
}

interface L1Entry {
  value: unknown;
  freshUntil: number;
}

const POLL_MS = 20;
const REPLAY_RETRY_MS = 1000;

/** What #tryStore returns when the store is unavailable or the call failed: fall back, never wait. */
const UNAVAILABLE = Symbol('store unavailable');
type Attempt<T> = T | typeof UNAVAILABLE;

export class Cache {
  readonly #store: CacheStore;
  readonly #health: RedisHealth | undefined;
  readonly #bus: CacheBus | undefined;
  readonly #entryKey: CacheDeps['entryKey'];
  readonly #lockKey: CacheDeps['lockKey'];
  readonly #metrics: CacheMetrics;
  readonly #log: CacheDeps['log'];
  readonly #l1TtlMs: number;
  readonly #lockTtlMs: number;
  readonly #l1: LRUCache<string, L1Entry> | undefined;
  /** Local invalidation epoch: incremented by every invalidation this instance learns of. */
  #epoch = 0;
  /** Epoch of the last whole-L1 clear. */
  #clearedAt = 0;
  /** Epoch at which each key was last invalidated (bounded; an evicted stamp only loses the guard for very old keys). */
  readonly #invalidatedAt = new LRUCache<string, number>({ max: 100_000 });
  readonly #flights = new Map<string, Promise<unknown>>();
  /** Authorization reads waiting for the end of the current event-loop turn (see #readThrough). */
  readonly #queuedReads = new Map<string, Promise<unknown>>();
  /** Invalidations that could not reach the store (Redis down), replayed when it returns. */
  readonly #pendingKeys = new Set<string>();
  readonly #pendingCollections = new Set<string>();
  #replayTimer: NodeJS.Timeout | undefined;

  constructor(deps: CacheDeps) {
    this.#store = deps.store;
    this.#health = deps.health;
    this.#bus = deps.bus;
    this.#entryKey = deps.entryKey;
    this.#lockKey = deps.lockKey;
    this.#metrics = deps.metrics;
    this.#log = deps.log;
    this.#l1TtlMs = deps.l1TtlMs ?? 5000;
    this.#lockTtlMs = deps.lockTtlMs ?? 2000;
    this.#l1 = deps.bus ? new LRUCache({ max: deps.l1MaxEntries ?? 10_000 }) : undefined;
    this.#health?.on('change', (state) => {
      // While Redis is away no instance can announce invalidations: start clean either way.
      this.#forgetEverything();
      if (state === 'closed') void this.#replayPending();
    });
  }

  /** Subscribes to the bus; call once at start-up. */
  async start(): Promise<void> {
    await this.#bus?.subscribe(
      (keys) => this.#forgetLocally(keys),
      () => this.#forgetEverything(),
    );
  }

  /** Returns the cached value of `namespace:id`, loading and caching it on a miss. */
  async getOrSet<T>(
    namespace: string,
    id: string,
    loader: () => Promise<T>,
    options: CacheOptions,
  ): Promise<T> {
    const key = this.#entryKey(namespace, id);
    const useL1 = options.l1 !== false;
    if (useL1) {
      const hit = this.#l1?.get(key);
      if (hit && hit.freshUntil > Date.now()) {
        this.#metrics.requests.inc({ namespace, result: 'l1_hit' });
        return hit.value as T;
      }
    }
    if (!useL1) return this.#readThrough(namespace, key, loader, options);
    const inFlight = this.#flights.get(key);
    if (inFlight) return inFlight as Promise<T>;
    const flight = this.#fetch(namespace, key, loader, options, useL1).finally(() => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    });
    this.#flights.set(key, flight);
    return flight;
  }

  /**
   * An authorization read must see every write that completed before its
   * request arrived, so it never joins a read that was already sent (that read
   * may predate a revocation). Callers of one event-loop turn share one read,
   * sent at the end of the turn: a burst of requests for one session costs one
   * round trip, and each of them is answered by a read issued after it arrived.
   */
  #readThrough<T>(
    namespace: string,
    key: string,
    loader: () => Promise<T>,
    options: CacheOptions,
  ): Promise<T> {
    const queued = this.#queuedReads.get(key);
    if (queued) return queued as Promise<T>;
    const read = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.#queuedReads.delete(key);
      return this.#fetch(namespace, key, loader, options, false);
    });
    this.#queuedReads.set(key, read);
    return read;
  }

  /**
   * Drops cached values. Call after the SQL transaction has committed (see
   * infra/db/unit-of-work.ts), never before: a reader could otherwise re-cache
   * the old row between the invalidation and the commit.
   */
  async invalidate(namespace: string, ids: readonly string[]): Promise<void> {
    const keys = ids.map((id) => this.#entryKey(namespace, id));
    this.#forgetLocally(keys);
    await this.#invalidateShared(keys);
  }

  /**
   * Invalidates keys in the store and announces them on the bus. If either
   * fails (Redis down), the keys are queued and both steps are replayed when
   * the circuit closes again.
   */
  async #invalidateShared(keys: readonly string[]): Promise<void> {
    const bus = this.#bus;
    const stored = await this.#tryStore(() => this.#store.invalidate(keys));
    const published = bus ? await this.#tryStore(() => bus.publish(keys)) : undefined;
    if (stored === UNAVAILABLE || published === UNAVAILABLE) {
      for (const key of keys) this.#pendingKeys.add(key);
      this.#scheduleReplay();
    }
  }

  /**
   * Retries queued invalidations every second until they succeed. The circuit's
   * return to `closed` replays them at once; the timer covers keys queued after
   * that replay and replays that failed part-way.
   */
  #scheduleReplay(): void {
    if (this.#replayTimer) return;
    this.#replayTimer = setTimeout(() => {
      this.#replayTimer = undefined;
      void this.#replayPending();
    }, REPLAY_RETRY_MS).unref();
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
    const version = await this.#tryStore(() => this.#store.version(collection));
    if (version === UNAVAILABLE) return this.#load(namespace, loader);
    return this.getOrSet(namespace, `${collection}@${version}:${page}`, loader, options);
  }

  /** Makes every cached page of `collections` unreachable. Call after commit, like `invalidate`. */
  async bump(collections: readonly string[]): Promise<void> {
    if ((await this.#tryStore(() => this.#store.bump(collections))) === UNAVAILABLE) {
      for (const c of collections) this.#pendingCollections.add(c);
      this.#scheduleReplay();
    }
  }

  async #fetch<T>(
    namespace: string,
    key: string,
    loader: () => Promise<T>,
    options: CacheOptions,
    useL1: boolean,
  ): Promise<T> {
    const epoch = this.#epoch;
    let entry = await this.#tryStore(() => this.#store.read(key));
    if (entry === UNAVAILABLE) return this.#load(namespace, loader); // straight to SQL
    let cached = this.#fresh<T>(entry);
    if (cached?.fresh) return this.#hit(namespace, key, cached.envelope, epoch, useL1);

    // Miss (or expired): one loader across instances; the others wait for its result.
    const lockKey = this.#lockKey(key);
    let owner = await this.#tryStore(() => this.#store.acquire(lockKey, this.#lockTtlMs));
    if (owner === undefined) {
      // Someone else is loading: wait for their value (or their lock).
      const waited = await this.#awaitOtherLoader<T>(key, lockKey);
      if ('value' in waited) return this.#hit(namespace, key, waited.value, epoch, useL1);
      owner = waited.owner;
    }
    if (typeof owner === 'string') {
      // Double-check under the lock: another loader may have stored the value and
      // released the lock between our read and our acquire.
      const recheck = await this.#tryStore(() => this.#store.read(key));
      if (recheck === UNAVAILABLE) return this.#load(namespace, loader);
      entry = recheck;
      cached = this.#fresh<T>(entry) ?? cached;
      if (cached?.fresh) {
        const token = owner;
        await this.#tryStore(() => this.#store.release(lockKey, token));
        return this.#hit(namespace, key, cached.envelope, epoch, useL1);
      }
    }
    const generation = entry.generation;
    this.#metrics.requests.inc({ namespace, result: 'miss' });
    try {
      let value: T;
      try {
        value = await this.#load(namespace, loader);
      } catch (err) {
        const stale = cached?.envelope;
        if (stale && stale.e + (options.grace ?? 0) > Date.now()) {
          this.#metrics.requests.inc({ namespace, result: 'stale_served' });
          this.#log.warn(
            { layer: 'cache', namespace, err: (err as Error).message },
            'loader failed: serving stale value',
          );
          return stale.v;
        }
        throw err;
      }
      const envelope: Envelope<T> = { v: value, e: Date.now() + options.ttl };
      const stored = await this.#tryStore(() =>
        this.#store.write(key, JSON.stringify(envelope), options.ttl + (options.grace ?? 0), generation),
      );
      if (stored && useL1) this.#remember(key, envelope, epoch);
      return value;
    } finally {
      if (typeof owner === 'string') {
        const token = owner;
        await this.#tryStore(() => this.#store.release(lockKey, token));
      }
    }
  }

  /** Decodes a stored entry and says whether it is still fresh. */
  #fresh<T>(entry: StoredEntry): { envelope: Envelope<T>; fresh: boolean } | undefined {
    if (entry.payload === undefined) return undefined;
    const envelope = JSON.parse(entry.payload) as Envelope<T>;
    return { envelope, fresh: envelope.e > Date.now() };
  }

  #hit<T>(namespace: string, key: string, envelope: Envelope<T>, epoch: number, useL1: boolean): T {
    this.#metrics.requests.inc({ namespace, result: 'l2_hit' });
    if (useL1) this.#remember(key, envelope, epoch);
    return envelope.v;
  }

  /** Polls the store until the lock holder's value appears, or takes over the lock if it is released. */
  async #awaitOtherLoader<T>(
    key: string,
    lockKey: string,
  ): Promise<{ value: Envelope<T> } | { owner: Attempt<string | undefined> }> {
    const deadline = Date.now() + this.#lockTtlMs;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      const entry = await this.#tryStore(() => this.#store.read(key));
      if (entry === UNAVAILABLE) return { owner: UNAVAILABLE };
      const cached = this.#fresh<T>(entry);
      if (cached?.fresh) return { value: cached.envelope };
      const owner = await this.#tryStore(() => this.#store.acquire(lockKey, this.#lockTtlMs));
      if (owner !== undefined) return { owner };
    }
    return { owner: undefined };
  }

  async #load<T>(namespace: string, loader: () => Promise<T>): Promise<T> {
    try {
      const value = await loader();
      this.#metrics.loads.inc({ namespace, outcome: 'ok' });
      return value;
    } catch (err) {
      this.#metrics.loads.inc({ namespace, outcome: 'error' });
      throw err;
    }
  }

  /**
   * Puts a value in L1 unless the key — or the whole L1 — was invalidated after
   * `epoch`, the moment its read began: the value may predate the write.
   */
  #remember(key: string, envelope: Envelope<unknown>, epoch: number): void {
    if (!this.#l1 || this.#clearedAt > epoch || (this.#invalidatedAt.get(key) ?? -1) > epoch) return;
    const ttl = Math.min(envelope.e - Date.now(), this.#l1TtlMs);
    if (ttl > 0) this.#l1.set(key, { value: envelope.v, freshUntil: envelope.e }, { ttl });
  }

  /** Drops all of L1 when invalidations may have been missed (bus gap, Redis outage). */
  #forgetEverything(): void {
    this.#epoch += 1;
    this.#clearedAt = this.#epoch;
    this.#l1?.clear();
    this.#flights.clear();
  }

  #forgetLocally(keys: readonly string[]): void {
    this.#epoch += 1;
    for (const key of keys) {
      this.#invalidatedAt.set(key, this.#epoch);
      this.#l1?.delete(key);
      // A read that starts after this point must not join a load that began before it.
      this.#flights.delete(key);
    }
  }

  /**
   * Runs a store operation if the store is usable; returns UNAVAILABLE when it
   * is not (circuit open) or when the operation fails — the caller falls back.
   */
  async #tryStore<T>(op: () => Promise<T>): Promise<Attempt<T>> {
    const health = this.#health;
    if (health && !health.available) return UNAVAILABLE;
    try {
      return health ? await health.run(op) : await op();
    } catch (err) {
      this.#log.warn(
        { layer: 'cache', err: (err as Error).message },
        'cache store unavailable: falling back',
      );
      return UNAVAILABLE;
    }
  }

  async #replayPending(): Promise<void> {
    const keys = [...this.#pendingKeys];
    const collections = [...this.#pendingCollections];
    this.#pendingKeys.clear();
    this.#pendingCollections.clear();
    if (keys.length > 0) {
      // Reads that fetched the old value from Redis before this replay lands must not reach L1.
      this.#forgetLocally(keys);
      await this.#invalidateShared(keys);
    }
    if (collections.length > 0) await this.bump(collections);
  }
}
