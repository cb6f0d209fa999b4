/**
 * The shared tier seen through the Redis circuit: every operation returns
 * UNAVAILABLE instead of throwing or waiting when Redis is down, because the
 * cache must degrade to SQL rather than fail a request (STYLE rule 8).
 */
import type { HealthLog, RedisHealth } from '../redis/health.ts';
import type { CacheStore, StoredEntry } from './store.ts';

/** What a guarded operation returns when the store is unavailable or the call failed: fall back, never wait. */
export const UNAVAILABLE = Symbol('store unavailable');
/** A guarded operation's result: its value, or UNAVAILABLE. */
export type Attempt<T> = T | typeof UNAVAILABLE;

/** A CacheStore whose operations report failure as UNAVAILABLE; see CacheStore for each one's contract. */
export class GuardedStore {
  readonly #store: CacheStore;
  readonly #health: RedisHealth | undefined;
  readonly #log: Pick<HealthLog, 'warn'>;

  /** `health` gates every call; absent for the in-memory store, which is always available. */
  constructor(store: CacheStore, health: RedisHealth | undefined, log: Pick<HealthLog, 'warn'>) {
    this.#store = store;
    this.#health = health;
    this.#log = log;
  }

  /**
   * Not through `health.run`: a store's reads are batched per turn into one call
   * that goes through the circuit once (infra/redis/turn.ts), so here only the
   * gate and the fallback apply.
   */
  read(key: string): Promise<Attempt<StoredEntry>> {
    if (this.#health && !this.#health.available) return Promise.resolve(UNAVAILABLE);
    return this.#store.read(key).then(undefined, this.#fallBack);
  }

  write(key: string, payload: string, ttlMs: number, generation: string): Promise<Attempt<boolean>> {
    return this.attempt(() => this.#store.write(key, payload, ttlMs, generation));
  }

  /** Sent even while the circuit is open (see RedisHealth.run): a paused Redis runs it first when it resumes. */
  invalidate(keys: readonly string[]): Promise<Attempt<void>> {
    return this.attempt(() => this.#store.invalidate(keys), { evenIfOpen: true });
  }

  acquire(key: string, ttlMs: number): Promise<Attempt<string | undefined>> {
    return this.attempt(() => this.#store.acquire(key, ttlMs));
  }

  release(key: string, token: string): Promise<Attempt<void>> {
    return this.attempt(() => this.#store.release(key, token));
  }

  version(collection: string): Promise<Attempt<string>> {
    return this.attempt(() => this.#store.version(collection));
  }

  bump(collections: readonly string[]): Promise<Attempt<void>> {
    return this.attempt(() => this.#store.bump(collections));
  }

  /**
   * Runs `op` (a store or bus call) if Redis is usable; returns UNAVAILABLE when
   * it is not (circuit open) or when the operation fails — the caller falls back.
   */
  async attempt<T>(op: () => Promise<T>, { evenIfOpen = false } = {}): Promise<Attempt<T>> {
    const health = this.#health;
    if (health && !health.available && !evenIfOpen) return UNAVAILABLE;
    try {
      return health ? await health.run(op, { evenIfOpen }) : await op();
    } catch (err) {
      return this.#fallBack(err);
    }
  }

  readonly #fallBack = (err: unknown): typeof UNAVAILABLE => {
    this.#log.warn({ layer: 'cache', err: (err as Error).message }, 'cache store unavailable: falling back');
    return UNAVAILABLE;
  };
}
