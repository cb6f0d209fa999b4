/**
 * Batching of authorization reads (`l1: false`) per event-loop turn. Such a
 * read must see every write that completed before its request arrived, so it
 * never joins a read already sent (that read may predate a revocation); the
 * callers of one turn share one read sent at the end of the turn instead.
 */

/** Resolves at the end of the current event-loop turn (module-level: no closure per read). */
const endOfTurn = (resolve: () => void) => setImmediate(resolve);

export class TurnBatch {
  /** Reads scheduled for the end of the current turn, not sent yet. */
  readonly #queued = new Map<string, Promise<unknown>>();

  /** The read of `key` scheduled in this turn, if any: join it. */
  get<T>(key: string): Promise<T> | undefined {
    return this.#queued.get(key) as Promise<T> | undefined;
  }

  /**
   * Schedules `read` for the end of this turn and lets the rest of the turn
   * join it: a burst of requests for one session costs one round trip, and
   * each of them is answered by a read issued after it arrived.
   */
  schedule<T>(key: string, read: () => Promise<T>): Promise<T> {
    const batch = new Promise<void>(endOfTurn).then(() => {
      this.#queued.delete(key);
      return read();
    });
    this.#queued.set(key, batch);
    return batch;
  }
}
