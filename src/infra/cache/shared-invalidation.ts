/**
 * Delivers invalidations beyond this instance: to the store (entries and page
 * versions) and, for entries, to the other instances' L1 over the bus. What
 * Redis could not take is queued and replayed until it lands, so a write made
 * during an outage is not lost once Redis is back (RELIABILITY H3). Until then
 * the key is *pending*: this instance reads it from the loader (SQL), never
 * from Redis, and readiness reports the speed layer degraded (RELIABILITY F5).
 */
import type { CacheBus } from './bus.ts';
import { type GuardedStore, UNAVAILABLE } from './guarded-store.ts';

const REPLAY_RETRY_MS = 1000;

export class SharedInvalidation {
  readonly #store: GuardedStore;
  readonly #bus: CacheBus | undefined;
  readonly #forgetLocally: (keys: readonly string[]) => void;
  /** Entry keys whose invalidation has not landed, each with the ticket of its latest failure. */
  readonly #pendingKeys = new Map<string, number>();
  readonly #pendingCollections = new Set<string>();
  #tickets = 0;
  #replayTimer: NodeJS.Timeout | undefined;

  /** `forgetLocally` drops keys from this instance's L1 and flights; a replay calls it first. */
  constructor(
    store: GuardedStore,
    bus: CacheBus | undefined,
    forgetLocally: (keys: readonly string[]) => void,
  ) {
    this.#store = store;
    this.#bus = bus;
    this.#forgetLocally = forgetLocally;
  }

  /** Whether an invalidation of entry `key` is still waiting to be replayed: Redis may hold a stale value. */
  isPending(key: string): boolean {
    // Nearly always empty: skip hashing the key then.
    return this.#pendingKeys.size > 0 && this.#pendingKeys.has(key);
  }

  /** How many entry invalidations are waiting to be replayed. */
  get pending(): number {
    return this.#pendingKeys.size;
  }

  /**
   * Invalidates entry `keys` in the store and announces them on the bus. If
   * either fails (Redis down, paused, out of memory), the keys stay pending
   * and both steps are replayed.
   */
  async invalidate(keys: readonly string[]): Promise<void> {
    if (await this.#deliver(keys)) return;
    this.#tickets += 1;
    for (const key of keys) this.#pendingKeys.set(key, this.#tickets);
    this.#scheduleReplay();
  }

  /** Replaces the version tokens of `collections`, queuing them for replay if the store is unavailable. */
  async bump(collections: readonly string[]): Promise<void> {
    if ((await this.#store.bump(collections)) === UNAVAILABLE) {
      for (const c of collections) this.#pendingCollections.add(c);
      this.#scheduleReplay();
    }
  }

  /**
   * Sends every queued invalidation now; call when the circuit closes. A key
   * stops being pending only once its replay has landed and no newer failure
   * of it was queued meanwhile.
   */
  async replay(): Promise<void> {
    const queued = [...this.#pendingKeys];
    const collections = [...this.#pendingCollections];
    this.#pendingCollections.clear();
    if (queued.length > 0) {
      const keys = queued.map(([key]) => key);
      // Reads that fetched the old value from Redis before this replay lands must not reach L1.
      this.#forgetLocally(keys);
      if (await this.#deliver(keys)) {
        for (const [key, ticket] of queued) {
          if (this.#pendingKeys.get(key) === ticket) this.#pendingKeys.delete(key);
        }
      } else {
        this.#scheduleReplay();
      }
    }
    if (collections.length > 0) await this.bump(collections);
  }

  /** Invalidates `keys` in the store and on the bus; false if either did not land. */
  async #deliver(keys: readonly string[]): Promise<boolean> {
    const bus = this.#bus;
    const stored = await this.#store.invalidate(keys);
    const published = bus ? await this.#store.attempt(() => bus.publish(keys)) : undefined;
    return stored !== UNAVAILABLE && published !== UNAVAILABLE;
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
      void this.replay();
    }, REPLAY_RETRY_MS).unref();
  }
}
