/**
 * Delivers invalidations beyond this instance: to the store (entries and page
 * versions) and, for entries, to the other instances' L1 over the bus. What
 * Redis could not take is queued and replayed until it lands, so a write made
 * during an outage is not lost once Redis is back (RELIABILITY H3).
 */
import type { CacheBus } from './bus.ts';
import { type GuardedStore, UNAVAILABLE } from './guarded-store.ts';

const REPLAY_RETRY_MS = 1000;

export class SharedInvalidation {
  readonly #store: GuardedStore;
  readonly #bus: CacheBus | undefined;
  readonly #forgetLocally: (keys: readonly string[]) => void;
  readonly #pendingKeys = new Set<string>();
  readonly #pendingCollections = new Set<string>();
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

  /**
   * Invalidates entry `keys` in the store and announces them on the bus. If
   * either fails (Redis down), the keys are queued and both steps replayed.
   */
  async invalidate(keys: readonly string[]): Promise<void> {
    const bus = this.#bus;
    const stored = await this.#store.invalidate(keys);
    const published = bus ? await this.#store.attempt(() => bus.publish(keys)) : undefined;
    if (stored === UNAVAILABLE || published === UNAVAILABLE) {
      for (const key of keys) this.#pendingKeys.add(key);
      this.#scheduleReplay();
    }
  }

  /** Replaces the version tokens of `collections`, queuing them for replay if the store is unavailable. */
  async bump(collections: readonly string[]): Promise<void> {
    if ((await this.#store.bump(collections)) === UNAVAILABLE) {
      for (const c of collections) this.#pendingCollections.add(c);
      this.#scheduleReplay();
    }
  }

  /** Sends every queued invalidation now; call when the circuit closes. What fails again is re-queued. */
  async replay(): Promise<void> {
    const keys = [...this.#pendingKeys];
    const collections = [...this.#pendingCollections];
    this.#pendingKeys.clear();
    this.#pendingCollections.clear();
    if (keys.length > 0) {
      // Reads that fetched the old value from Redis before this replay lands must not reach L1.
      this.#forgetLocally(keys);
      await this.invalidate(keys);
    }
    if (collections.length > 0) await this.bump(collections);
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
