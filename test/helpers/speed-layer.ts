/** Builds speed-layer adapters directly (outside an app) for contract and mechanism tests. */
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { Cache, type CacheDeps } from '../../src/infra/cache/cache.ts';
import { MemoryCacheStore } from '../../src/infra/cache/memory-store.ts';
import { RedisCacheStore } from '../../src/infra/cache/redis-store.ts';
import { type CacheStore, GENERATION_RETENTION_MS } from '../../src/infra/cache/store.ts';
import { BoundCounter } from '../../src/infra/metrics.ts';
import { RedisHealth } from '../../src/infra/redis/health.ts';
import { createKeys } from '../../src/infra/redis/keys.ts';
import { withScripts } from '../../src/infra/redis/scripts.ts';
import { RedisTurn } from '../../src/infra/redis/turn.ts';
import { deleteKeys, TEST_REDIS_URL } from './backends.ts';
import { waitFor } from './wait.ts';

export interface StoreHandle {
  store: CacheStore;
  keys: ReturnType<typeof createKeys>;
  /** Makes the store lose `key` behind the cache's back, as a flush or eviction would (Redis only). */
  lose?(key: string): Promise<void>;
  close(): Promise<void>;
}

/** The Redis store on its own client and circuit (closed once connected), as the cache plugin builds it. */
export async function redisStore(url: string, prefix: string): Promise<StoreHandle> {
  const client = withScripts(new Redis(url, { lazyConnect: true }));
  const health = new RedisHealth(client, { log: silent });
  await client.connect();
  await waitFor(() => health.available);
  const keys = createKeys(prefix);
  return {
    store: new RedisCacheStore(
      client,
      new RedisTurn(client, health, GENERATION_RETENTION_MS),
      keys.cache.collection,
    ),
    keys,
    lose: async (key) => {
      await client.del(key);
    },
    close: async () => {
      health.stop();
      client.disconnect();
    },
  };
}

/** A logger that says nothing, for adapters built outside an app. */
export const silent = { info: () => {}, warn: () => {} };

/**
 * A connected client on the test Redis with its health circuit closed, under a
 * fresh key prefix; `close()` stops both and deletes the prefix's keys. For
 * building a port's Redis adapter in its contract suite.
 */
export async function testRedis(): Promise<{
  client: Redis;
  health: RedisHealth;
  prefix: string;
  close(): Promise<void>;
}> {
  const prefix = `parley-test:${Math.random().toString(16).slice(2, 10)}:`;
  const client = new Redis(TEST_REDIS_URL, { lazyConnect: true });
  const health = new RedisHealth(client, { log: silent });
  await client.connect();
  await waitFor(() => health.available);
  return {
    client,
    health,
    prefix,
    close: async () => {
      health.stop();
      client.disconnect();
      await deleteKeys(TEST_REDIS_URL, `${prefix}*`);
    },
  };
}

export function memoryStore(prefix = 'mem:'): StoreHandle {
  return { store: new MemoryCacheStore(), keys: createKeys(prefix), close: async () => {} };
}

export function cacheMetrics(): CacheDeps['metrics'] {
  const registers = [new Registry()];
  return {
    requests: new BoundCounter({ name: 'r', help: 'r', labelNames: ['namespace', 'result'], registers }),
    loads: new BoundCounter({ name: 'l', help: 'l', labelNames: ['namespace', 'outcome'], registers }),
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
