/**
 * Sharing of authorization reads (`l1: false`) within one event-loop turn.
 * Such a read must see every write that completed before its request arrived.
 * The first read of a key in a turn is sent at once; the rest of the turn
 * joins it; the next turn starts afresh and never joins an older read.
 *
 * Why joining within a turn is safe: the requests handled in one turn were
 * read from sockets that one poll reported ready, so their bytes had arrived
 * before the turn began — before the shared read was sent. A write that
 * completed before any of them arrived therefore completed before that read
 * was sent too. (libuv polls again inside one phase only when a single poll
 * fills its 1,024-event buffer; such requests still arrived before the read
 * that serves them was sent, because it is sent while they are processed.)
 */
export class TurnBatch {
  /** Reads sent in the current turn, by key. */
  readonly #sent = new Map<string, Promise<unknown>>();
  #clearScheduled = false;
  readonly #clear = () => {
    this.#sent.clear();
    this.#clearScheduled = false;
  };

  /**
   * Stops later reads of this turn from joining reads of `keys` already sent: they may
   * predate a write to them that just completed (an invalidation, here or via the bus).
   */
  forget(keys: readonly string[]): void {
    for (const key of keys) this.#sent.delete(key);
  }

  /** `read()`'s result, shared with every other read of `key` made in this turn. */
  read<T>(key: string, read: () => Promise<T>): Promise<T> {
    const sent = this.#sent.get(key) as Promise<T> | undefined;
    if (sent) return sent;
    const started = read();
    this.#sent.set(key, started);
    if (!this.#clearScheduled) {
      this.#clearScheduled = true;
      setImmediate(this.#clear);
    }
    return started;
  }
}
