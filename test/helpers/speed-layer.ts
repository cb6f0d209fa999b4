/** Builds speed-layer adapters directly (outside an app) for contract and mechanism tests. */
import { Redis } from 'ioredis';
import { Counter, Registry } from 'prom-client';
import { Cache, type CacheDeps } from '../../src/infra/cache/cache.ts';
import { MemoryCacheStore } from '../../src/infra/cache/memory-store.ts';
import { RedisCacheStore } from '../../src/infra/cache/redis-store.ts';
import type { CacheStore } from '../../src/infra/cache/store.ts';
import { createKeys } from '../../src/infra/redis/keys.ts';
import { withScripts } from '../../src/infra/redis/scripts.ts';

export interface StoreHandle {
  store: CacheStore;
  keys: ReturnType<typeof createKeys>;
  /** Makes the store lose `key` behind the cache's back, as a flush or eviction would (Redis only). */
  lose?(key: string): Promise<void>;
  close(): Promise<void>;
}

export function redisStore(url: string, prefix: string): StoreHandle {
  const client = new Redis(url);
  const keys = createKeys(prefix);
  return {
    store: new RedisCacheStore(withScripts(client), keys.cache.collection),
    keys,
    lose: async (key) => {
      await client.del(key);
    },
    close: async () => {
      client.disconnect();
    },
  };
}

export function memoryStore(prefix = 'mem:'): StoreHandle {
  return { store: new MemoryCacheStore(), keys: createKeys(prefix), close: async () => {} };
}

export function cacheMetrics(): CacheDeps['metrics'] {
  const registers = [new Registry()];
  return {
    requests: new Counter({ name: 'r', help: 'r', labelNames: ['namespace', 'result'] as const, registers }),
    loads: new Counter({ name: 'l', help: 'l', labelNames: ['namespace', 'outcome'] as const, registers }),
  };
}

/** A Cache over `store` with no L1 (the store's own semantics under test). */
export function bareCache(handle: StoreHandle): Cache {
  return new Cache({
    store: handle.store,
    entryKey: handle.keys.cache.entry,
    lockKey: handle.keys.cache.lock,
    metrics: cacheMetrics(),
    log: { warn: () => {} },
  });
}

/**
 * The naive store a mutation test uses: `write` ignores the generation the
 * reader saw and always stores — the classic cache-aside bug.
 */
export function naive(store: CacheStore): CacheStore {
  return wrap(store, {
    write: async (key, payload, ttl) => store.write(key, payload, ttl, (await store.read(key)).generation),
  });
}

/** `store`, counting its reads. */
export function countingReads(store: CacheStore): { store: CacheStore; reads(): number } {
  let reads = 0;
  const read = (key: string) => {
    reads += 1;
    return store.read(key);
  };
  return { store: wrap(store, { read }), reads: () => reads };
}

/** `store` with some of its operations replaced. */
function wrap(store: CacheStore, replaced: Partial<CacheStore>): CacheStore {
  return {
    read: (key) => store.read(key),
    write: (key, payload, ttl, generation) => store.write(key, payload, ttl, generation),
    invalidate: (keys) => store.invalidate(keys),
    acquire: (key, ttl) => store.acquire(key, ttl),
    release: (key, token) => store.release(key, token),
    version: (c) => store.version(c),
    bump: (c) => store.bump(c),
    ...replaced,
  };
}
