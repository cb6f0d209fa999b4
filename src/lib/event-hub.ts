/**
 * A typed, in-process publish/subscribe hub: modules publish what happened
 * after their SQL commit, and transports (the Socket.IO gateway) subscribe,
 * so no module knows how events reach clients. Delivery is synchronous and
 * local to this instance; a listener that throws is reported, never felt by
 * the publisher or the other listeners.
 */
export class EventHub<M extends Record<string, unknown>> {
  readonly #listeners = new Map<keyof M, Set<(payload: never) => void>>();
  readonly #onError: (err: unknown, event: keyof M) => void;

  constructor(onError: (err: unknown, event: keyof M) => void) {
    this.#onError = onError;
  }

  /** Subscribes; returns the unsubscribe function. */
  on<K extends keyof M>(event: K, listener: (payload: M[K]) => void): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as (payload: never) => void);
    return () => set.delete(listener as (payload: never) => void);
  }

  publish<K extends keyof M>(event: K, payload: M[K]): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        (listener as (payload: M[K]) => void)(payload);
      } catch (err) {
        this.#onError(err, event);
      }
    }
  }
}
