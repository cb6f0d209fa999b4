/**
 * The stored form of a cached value: the value plus the moment it stops being
 * fresh. The store keeps it longer (TTL + grace) so an expired value is still
 * there to serve when the loader fails.
 */
import type { StoredEntry } from './store.ts';

export interface Envelope<T> {
  v: T;
  /** Fresh until, epoch ms. */
  e: number;
}

/** A stored entry's envelope, and whether it is still fresh. */
export interface Decoded<T> {
  envelope: Envelope<T>;
  fresh: boolean;
}

/** Decodes a stored entry and says whether it is still fresh; undefined on a miss. */
export function decode<T>(entry: StoredEntry): Decoded<T> | undefined {
  if (entry.payload === undefined) return undefined;
  const envelope = JSON.parse(entry.payload) as Envelope<T>;
  return { envelope, fresh: envelope.e > Date.now() };
}
