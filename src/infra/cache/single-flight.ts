/**
 * In-process single flight for L1-eligible reads: concurrent misses of one key
 * share one load (RELIABILITY H5). An invalidation detaches the key's flight,
 * so a read that starts after a write never joins a load that began before it.
 */

export class SingleFlight {
  readonly #flights = new Map<string, Promise<unknown>>();

  /** The load of `key` in flight, if any: join it instead of starting another. */
  get<T>(key: string): Promise<T> | undefined {
    return this.#flights.get(key) as Promise<T> | undefined;
  }

  /** Makes `load` the flight of `key` until it settles; returns what joiners get. */
  track<T>(key: string, load: Promise<T>): Promise<T> {
    const flight = load.finally(() => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    });
    this.#flights.set(key, flight);
    return flight;
  }

  /** Detaches the flights of `keys`: later reads start their own load. */
  forget(keys: readonly string[]): void {
    for (const key of keys) this.#flights.delete(key);
  }

  /** Detaches every flight. */
  clear(): void {
    this.#flights.clear();
  }
}
