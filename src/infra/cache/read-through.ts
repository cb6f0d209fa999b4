/**
 * The read path through the shared tier: store, else load lock, loader, and a
 * compare-and-set on the generation read *before* loading, so a load that
 * overlapped an invalidation is never stored (RELIABILITY H1, H2). Grace: an
 * expired value is served for `grace` ms past its TTL when the loader fails.
 */
import type { BoundCounter } from '../metrics.ts';
import type { HealthLog } from '../redis/health.ts';
import { type Decoded, decode, type Envelope } from './envelope.ts';
import { type GuardedStore, UNAVAILABLE } from './guarded-store.ts';
import type { L1 } from './l1.ts';
import type { LoadLock } from './lock.ts';
import type { StoredEntry } from './store.ts';

/** How a value is kept in the shared tier. */
export interface ReadOptions {
  /** How long a value is fresh, ms. */
  ttl: number;
  /** How long after `ttl` an expired value may still be served if the loader fails, ms (default 0). */
  grace?: number;
}

/** The counters every cache read reports to (see plugin.ts for their labels). */
export interface CacheMetrics {
  requests: BoundCounter;
  loads: BoundCounter;
}

/** One read's arguments, and the L1 epoch when it began. */
interface Read<T> {
  namespace: string;
  key: string;
  loader: () => Promise<T>;
  options: ReadOptions;
  l1: L1 | undefined;
  epoch: number;
}

export class ReadThrough {
  readonly #store: GuardedStore;
  readonly #lock: LoadLock;
  readonly #metrics: CacheMetrics;
  readonly #log: Pick<HealthLog, 'warn'>;

  constructor(store: GuardedStore, lock: LoadLock, metrics: CacheMetrics, log: Pick<HealthLog, 'warn'>) {
    this.#store = store;
    this.#lock = lock;
    this.#metrics = metrics;
    this.#log = log;
  }

  /** Counts a cache request's result (l1_hit, l2_hit, miss, stale_served) for `namespace`. */
  count(namespace: string, result: 'l1_hit' | 'l2_hit' | 'miss' | 'stale_served'): void {
    this.#metrics.requests.series(namespace, result).inc();
  }

  /**
   * The value of entry `key`: from the store if fresh, else loaded (once across
   * instances) and stored. Values read or loaded go into `l1` when given. With
   * the store unavailable, goes straight to the loader.
   */
  read<T>(
    namespace: string,
    key: string,
    loader: () => Promise<T>,
    options: ReadOptions,
    l1: L1 | undefined,
  ): Promise<T> {
    const epoch = l1?.epoch ?? 0;
    // Not `async`: a fresh entry (the usual case) is answered in the read's own `then`.
    return this.#store.read(key).then((entry) => {
      if (entry === UNAVAILABLE) return this.load(namespace, loader); // straight to SQL
      const cached = decode<T>(entry);
      if (cached?.fresh) return this.#hit(namespace, key, cached.envelope, epoch, l1);
      return this.#miss({ namespace, key, loader, options, l1, epoch }, entry, cached);
    });
  }

  /** An absent or expired entry (`read`, decoded as `expired`): loaded once across instances, then stored. */
  async #miss<T>(
    { namespace, key, loader, options, l1, epoch }: Read<T>,
    read: StoredEntry,
    expired: Decoded<T> | undefined,
  ): Promise<T> {
    let entry = read;
    let cached = expired;
    // Miss (or expired): one loader across instances; the others wait for its result.
    let owner = await this.#lock.acquire(key);
    if (owner === undefined) {
      // Someone else is loading: wait for their value (or their lock).
      const waited = await this.#lock.awaitHolder<T>(key);
      if ('value' in waited) return this.#hit(namespace, key, waited.value, epoch, l1);
      owner = waited.owner;
    }
    if (typeof owner === 'string') {
      // Double-check under the lock: another loader may have stored the value and
      // released the lock between our read and our acquire.
      const recheck = await this.#store.read(key);
      if (recheck === UNAVAILABLE) return this.load(namespace, loader);
      entry = recheck;
      cached = decode<T>(entry) ?? cached;
      if (cached?.fresh) {
        await this.#lock.release(key, owner);
        return this.#hit(namespace, key, cached.envelope, epoch, l1);
      }
    }
    const generation = entry.generation;
    this.count(namespace, 'miss');
    try {
      let value: T;
      try {
        value = await this.load(namespace, loader);
      } catch (err) {
        return this.#staleOrThrow(namespace, err, cached?.envelope, options.grace ?? 0);
      }
      const envelope: Envelope<T> = { v: value, e: Date.now() + options.ttl };
      const stored = await this.#store.write(
        key,
        JSON.stringify(envelope),
        options.ttl + (options.grace ?? 0),
        generation,
      );
      if (stored) l1?.remember(key, envelope, epoch);
      return value;
    } finally {
      if (typeof owner === 'string') await this.#lock.release(key, owner);
    }
  }

  /** Calls the loader (the source of truth), counting its outcome. */
  async load<T>(namespace: string, loader: () => Promise<T>): Promise<T> {
    try {
      const value = await loader();
      this.#metrics.loads.series(namespace, 'ok').inc();
      return value;
    } catch (err) {
      this.#metrics.loads.series(namespace, 'error').inc();
      throw err;
    }
  }

  #hit<T>(namespace: string, key: string, envelope: Envelope<T>, epoch: number, l1: L1 | undefined): T {
    this.count(namespace, 'l2_hit');
    l1?.remember(key, envelope, epoch);
    return envelope.v;
  }

  /** Grace: the loader failed; serves `stale` if it expired less than `grace` ms ago, else rethrows. */
  #staleOrThrow<T>(namespace: string, err: unknown, stale: Envelope<T> | undefined, grace: number): T {
    if (!stale || stale.e + grace <= Date.now()) throw err;
    this.count(namespace, 'stale_served');
    this.#log.warn(
      { layer: 'cache', namespace, err: (err as Error).message },
      'loader failed: serving stale value',
    );
    return stale.v;
  }
}
