/**
 * Coalesces work about one key at a time into work about batches of keys: the keys
 * added in one event-loop turn (or within `windowMs` of the first) go out together,
 * and keys added while a batch runs wait and go in the next one; a batch holds at
 * most `max` keys. One
 * batch runs at a time, so a burst of N adds costs a few calls (and one SQL
 * connection) instead of N concurrent ones, and adders are answered in the order
 * they added: what each does with its answer right away keeps that order.
 */
export class BatchQueue<K, V = never> {
  readonly #run: (keys: K[]) => Promise<ReadonlyMap<K, V> | undefined>;
  readonly #max: number;
  readonly #windowMs: number;
  #waiting: { key: K; resolve: (value: V | undefined) => void; reject: (err: unknown) => void }[] = [];
  #draining = false;

  /**
   * `run` handles a batch of distinct keys and may answer some of them (a key left out gets
   * undefined). `windowMs` > 0 holds a batch open that long after its first key, for keys
   * that come spread over time (timers set a few ms apart fire a few ms apart).
   */
  constructor(
    run: (keys: K[]) => Promise<ReadonlyMap<K, V> | undefined>,
    { max, windowMs = 0 }: { max: number; windowMs?: number },
  ) {
    this.#run = run;
    this.#max = max;
    this.#windowMs = windowMs;
  }

  /** Queues `key` for the next batch; resolves with its answer, rejects with that batch's error. */
  add(key: K): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ key, resolve, reject });
      if (!this.#draining) {
        this.#draining = true;
        if (this.#windowMs > 0) setTimeout(() => void this.#drain(), this.#windowMs).unref();
        else setImmediate(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    while (this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, this.#max);
      try {
        const answers = await this.#run([...new Set(batch.map((w) => w.key))]);
        for (const w of batch) w.resolve(answers?.get(w.key));
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    this.#draining = false;
  }
}
