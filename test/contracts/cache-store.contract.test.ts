/**
 * The CacheStore contract, run against both adapters: the in-memory store and
 * the Redis store (real redis-server, a per-run key prefix).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { deleteKeys, servicesSkipReason, TEST_REDIS_URL } from '../helpers/backends.ts';
import { memoryStore, redisStore, type StoreHandle } from '../helpers/speed-layer.ts';

const prefix = `parley-test:${randomUUID().slice(0, 8)}:`;

const adapters: [string, () => Promise<StoreHandle>, string | undefined][] = [
  ['memory', async () => memoryStore(), undefined],
  ['redis', () => redisStore(TEST_REDIS_URL, prefix), servicesSkipReason],
];

for (const [name, make, skip] of adapters) {
  describe(`CacheStore contract [${name}]`, { skip }, () => {
    let h: StoreHandle;
    const key = () => h.keys.cache.entry('contract', randomUUID());
    before(async () => {
      h = await make();
    });
    after(async () => {
      await h.close();
      if (name === 'redis') await deleteKeys(TEST_REDIS_URL, `${prefix}*`);
    });

    it('reads a miss as no payload, claiming a generation that later reads share', async () => {
      const k = key();
      const first = await h.store.read(k);
      assert.equal(first.payload, undefined);
      assert.ok(first.generation.length >= 16, 'a random token');
      assert.equal((await h.store.read(k)).generation, first.generation);
      assert.notEqual((await h.store.read(key())).generation, first.generation);
    });

    it('writes when the generation is unchanged and reads it back', async () => {
      const k = key();
      const { generation } = await h.store.read(k);
      assert.equal(await h.store.write(k, '{"a":1}', 10_000, generation), true);
      assert.deepEqual(await h.store.read(k), { payload: '{"a":1}', generation });
    });

    it('refuses a write whose generation moved on (invalidate between read and write)', async () => {
      const k = key();
      const before = await h.store.read(k);
      await h.store.invalidate([k]);
      assert.equal(await h.store.write(k, 'stale', 10_000, before.generation), false);
      const now = await h.store.read(k);
      assert.equal(now.payload, undefined);
      assert.notEqual(now.generation, before.generation);
      assert.equal(await h.store.write(k, 'fresh', 10_000, now.generation), true);
      assert.equal((await h.store.read(k)).payload, 'fresh');
    });

    it('drops the payload on invalidate and keeps generations distinct across invalidations', async () => {
      const k = key();
      await h.store.write(k, 'x', 10_000, (await h.store.read(k)).generation);
      await h.store.invalidate([k]);
      const g1 = (await h.store.read(k)).generation;
      await h.store.invalidate([k]);
      const g2 = (await h.store.read(k)).generation;
      assert.notEqual(g1, g2);
      assert.equal((await h.store.read(k)).payload, undefined);
    });

    it('refuses a write with a generation the store never issued', async () => {
      const k = key();
      await h.store.read(k);
      assert.equal(await h.store.write(k, 'x', 10_000, ''), false);
      assert.equal(await h.store.write(k, 'x', 10_000, 'forged'), false);
    });

    if (name === 'redis') {
      it('refuses a write after the entry was lost mid-load (flush / restart / eviction)', async () => {
        const k = key();
        const { generation } = await h.store.read(k);
        await h.lose?.(k);
        assert.equal(await h.store.write(k, 'stale', 10_000, generation), false);
      });
    }

    it('expires payloads after their TTL', async () => {
      const k = key();
      await h.store.write(k, 'short', 50, (await h.store.read(k)).generation);
      await new Promise((r) => setTimeout(r, 120));
      assert.equal((await h.store.read(k)).payload, undefined);
    });

    it('grants a lock to one owner at a time and releases only for the owner', async () => {
      const lock = h.keys.cache.lock(key());
      const owners = await Promise.all(Array.from({ length: 20 }, () => h.store.acquire(lock, 5000)));
      const granted = owners.filter((o) => o !== undefined);
      assert.equal(granted.length, 1);
      await h.store.release(lock, 'not-the-owner');
      assert.equal(await h.store.acquire(lock, 5000), undefined, 'a foreign token does not release');
      await h.store.release(lock, granted[0] as string);
      assert.ok(await h.store.acquire(lock, 5000), 'free again after the owner released it');
    });

    it('lets a lock expire', async () => {
      const lock = h.keys.cache.lock(key());
      assert.ok(await h.store.acquire(lock, 50));
      await new Promise((r) => setTimeout(r, 120));
      assert.ok(await h.store.acquire(lock, 50));
    });

    it('keeps a collection version stable until bumped, then changes it', async () => {
      const c = `col-${randomUUID()}`;
      const [v1, v1again] = await Promise.all([h.store.version(c), h.store.version(c)]);
      assert.equal(v1, v1again, 'concurrent first reads agree');
      assert.equal(await h.store.version(c), v1);
      await h.store.bump([c]);
      const v2 = await h.store.version(c);
      assert.notEqual(v2, v1);
    });
  });
}
