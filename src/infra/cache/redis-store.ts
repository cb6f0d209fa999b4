/**
 * CacheStore on Redis. Each entry is one hash `{ v, g }`: the payload and its
 * generation token, read (claiming a token on a miss) with the turn's call
 * (infra/redis/turn.ts: the reads and budgets of one event-loop turn, whatever
 * their keys, are one script run), stored by cacheWrite-1 (compare-and-set on
 * `g`) and dropped by cacheInvalidate-1.
 */
import { ReplyError } from 'ioredis';
import type { ScriptedClient } from '../redis/scripts.ts';
import { uniqueToken as token } from '../redis/token.ts';
import type { RedisTurn } from '../redis/turn.ts';
import { type CacheStore, GENERATION_RETENTION_MS, type StoredEntry, VERSION_TTL_MS } from './store.ts';

export class RedisCacheStore implements CacheStore {
  readonly #redis: ScriptedClient;
  readonly #turn: RedisTurn;
  readonly #collectionKey: (name: string) => string;

  /** Reads go through `turn`, which runs them through the health circuit; the other calls go to `redis`. */
  constructor(redis: ScriptedClient, turn: RedisTurn, collectionKey: (name: string) => string) {
    this.#redis = redis;
    this.#turn = turn;
    this.#collectionKey = collectionKey;
  }

  /** Batched by the turn and guarded by the health circuit already (see GuardedStore.read). */
  read(key: string): Promise<StoredEntry> {
    return this.#turn.read(key);
  }

  async write(key: string, payload: string, ttlMs: number, generation: string): Promise<boolean> {
    return (await this.#redis.cacheWrite(key, generation, payload, ttlMs)) === 1;
  }

  async invalidate(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    // One script call per key (keys may live on different Cluster slots), sent as one pipeline.
    const results = await Promise.allSettled(
      keys.map((key) => this.#redis.cacheInvalidate(key, token(), GENERATION_RETENTION_MS)),
    );
    const failures = results.flatMap((r, i) =>
      r.status === 'rejected' ? [{ key: keys[i] as string, err: r.reason as unknown }] : [],
    );
    if (failures.length === 0) return;
    // Redis answered with an error (under OOM + noeviction it refuses scripts that write,
    // yet accepts UNLINK, which frees memory): the old payloads must not stay readable,
    // so drop those entries. A dropped entry has no generation, so no load that began
    // before can store its result either. Still throw: the invalidation is queued and
    // replayed until Redis takes it whole.
    const refused = failures.filter((f) => f.err instanceof ReplyError).map((f) => f.key);
    await Promise.all(refused.map((key) => this.#redis.unlink(key)));
    throw failures[0]?.err;
  }

  async acquire(key: string, ttlMs: number): Promise<string | undefined> {
    const owner = token();
    return (await this.#redis.set(key, owner, 'PX', ttlMs, 'NX')) === 'OK' ? owner : undefined;
  }

  async release(key: string, owner: string): Promise<void> {
    await this.#redis.releaseLock(key, owner);
  }

  async version(collection: string): Promise<string> {
    const fresh = token();
    // SET NX GET: returns the existing token, or nil when ours was just stored.
    const existing = await this.#redis.set(
      this.#collectionKey(collection),
      fresh,
      'PX',
      VERSION_TTL_MS,
      'NX',
      'GET',
    );
    return existing ?? fresh;
  }

  async bump(collections: readonly string[]): Promise<void> {
    await Promise.all(
      collections.map((c) => this.#redis.set(this.#collectionKey(c), token(), 'PX', VERSION_TTL_MS)),
    );
  }
}
