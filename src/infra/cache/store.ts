/**
 * CacheStore: the shared tier of the cache (Redis in services mode, process
 * memory in embedded mode). It stores opaque payloads under a per-entry
 * generation so that invalidation and loading cannot race, plus short
 * single-flight locks and per-collection version tokens for paginated lists.
 * Both adapters pass test/contracts/cache-store.contract.ts.
 */

export interface StoredEntry {
  /** The cached payload, or undefined on a miss. */
  payload: string | undefined;
  /**
   * Opaque generation token; pass it back to `write`. A miss claims a fresh
   * token, so losing the entry (flush, restart, eviction) also changes it.
   */
  generation: string;
}

export interface CacheStore {
  /** Payload and generation of `key`, read atomically (one round trip); claims a generation on a miss. */
  read(key: string): Promise<StoredEntry>;

  /**
   * Stores `payload` for `ttlMs`, atomically and only if the entry's generation
   * is still `generation` — i.e. since the caller's `read` there was no
   * `invalidate(key)` and the entry was not lost. Returns false (and stores
   * nothing) otherwise.
   */
  write(key: string, payload: string, ttlMs: number, generation: string): Promise<boolean>;

  /**
   * Drops the payloads and replaces the generations of `keys`: a load that began
   * before this call can no longer store its result. Each key is atomic on its own.
   */
  invalidate(keys: readonly string[]): Promise<void>;

  /** Takes the lock `key` for `ttlMs` if free (SET NX PX); returns the owner token, or undefined if held. */
  acquire(key: string, ttlMs: number): Promise<string | undefined>;

  /** Releases the lock if `token` still owns it. */
  release(key: string, token: string): Promise<void>;

  /**
   * The current version token of a collection, creating one if there is none.
   * Tokens are random, so a lost or expired token never brings back pages cached under an old one.
   */
  version(collection: string): Promise<string>;

  /** Replaces the version tokens of `collections`: every page cached under an old token is unreachable. */
  bump(collections: readonly string[]): Promise<void>;
}

/** How long a generation outlives its payload: longer than any load (statement timeout 5 s) can take. */
export const GENERATION_RETENTION_MS = 60_000;

/** How long a collection version token lives without a bump; far longer than any page TTL. */
export const VERSION_TTL_MS = 7 * 86_400_000;
