/**
 * The PresenceStore contract, run against the memory adapter and the Redis
 * adapter (real redis-server, per-run key prefix): tabs count once, transitions
 * are reported exactly once, expired connections are swept, pages cover everyone.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MemoryPresenceStore } from '../../src/infra/presence/memory.ts';
import { RedisPresenceStore } from '../../src/infra/presence/redis.ts';
import type { PresenceStore } from '../../src/infra/presence/store.ts';
import { createKeys } from '../../src/infra/redis/keys.ts';
import { withScripts } from '../../src/infra/redis/scripts.ts';
import { servicesSkipReason } from '../helpers/backends.ts';
import { silent, testRedis } from '../helpers/speed-layer.ts';
import { waitFor } from '../helpers/wait.ts';

const TTL = 60_000;

async function redisStore() {
  const redis = await testRedis();
  const store = new RedisPresenceStore({
    client: withScripts(redis.client),
    health: redis.health,
    keys: createKeys(redis.prefix).presence,
    local: new MemoryPresenceStore(),
    log: silent,
  });
  return { store, close: redis.close };
}

const adapters: [
  string,
  () => Promise<{ store: PresenceStore; close(): Promise<void> }>,
  string | undefined,
][] = [
  ['memory', async () => ({ store: new MemoryPresenceStore(), close: async () => {} }), undefined],
  ['redis', redisStore, servicesSkipReason],
];

for (const [name, make, skip] of adapters) {
  describe(`PresenceStore contract [${name}]`, { skip }, () => {
    let store: PresenceStore;
    let close: () => Promise<void>;
    before(async () => {
      ({ store, close } = await make());
    });
    after(() => close());

    it('counts several connections (tabs) of a user once: one online and one offline transition', async () => {
      const user = randomUUID();
      assert.equal(await store.touch(user, 'tab-1', TTL), true);
      assert.equal(await store.touch(user, 'tab-2', TTL), false);
      assert.equal(await store.touch(user, 'tab-1', TTL), false, 'a heartbeat is no transition');
      assert.deepEqual(await store.status([user]), [true]);
      assert.equal(await store.leave(user, 'tab-1'), false);
      assert.deepEqual(await store.status([user]), [true]);
      assert.equal(await store.leave(user, 'tab-2'), true);
      assert.equal(await store.leave(user, 'tab-2'), false, 'offline is reported once');
      assert.deepEqual(await store.status([user]), [false]);
    });

    it('reports one transition when connections race', async () => {
      const user = randomUUID();
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => store.touch(user, `c${i}`, TTL)),
      );
      assert.equal(results.filter(Boolean).length, 1);
      const left = await Promise.all(Array.from({ length: 10 }, (_, i) => store.leave(user, `c${i}`)));
      assert.equal(left.filter(Boolean).length, 1);
    });

    it('answers status in the order asked, unknown users offline', async () => {
      const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
      await store.touch(a, 'x', TTL);
      await store.touch(c, 'y', TTL);
      assert.deepEqual(await store.status([a, b, c]), [true, false, true]);
      assert.deepEqual(await store.status([]), []);
      await store.leave(a, 'x');
      await store.leave(c, 'y');
    });

    it('lets an unrefreshed connection expire: offline at once, reported by one sweep', async () => {
      const user = randomUUID();
      const live = randomUUID();
      await store.touch(live, 'stays', TTL);
      assert.equal(await store.touch(user, 'crashed', 200), true);
      await waitFor(async () => !(await store.status([user]))[0], { timeoutMs: 3000, what: 'expiry' });
      const swept = await store.sweep(1000);
      assert.ok(swept.includes(user));
      assert.ok(!swept.includes(live));
      assert.ok(!(await store.sweep(1000)).includes(user), 'each user is swept once');
      assert.equal(await store.touch(user, 'back', TTL), true, 'coming back is a new transition');
      await store.leave(user, 'back');
      await store.leave(live, 'stays');
    });

    it('a live connection keeps its user online when another one expires', async () => {
      const user = randomUUID();
      await store.touch(user, 'short', 150);
      await store.touch(user, 'long', TTL);
      await new Promise((r) => setTimeout(r, 300)); // let 'short' lapse (its TTL is the point here)
      assert.ok(!(await store.sweep(1000)).includes(user));
      assert.deepEqual(await store.status([user]), [true]);
      assert.equal(await store.leave(user, 'long'), true);
    });

    it('pages online users in id order with their count', async () => {
      const users = Array.from({ length: 7 }, () => randomUUID());
      for (const u of users) await store.touch(u, 'c', TTL);
      const seen: string[] = [];
      let cursor: string | undefined;
      let count = 0;
      for (let i = 0; i < 20; i++) {
        const page = await store.online(cursor, 3);
        count = page.count;
        assert.ok(page.ids.length <= 3);
        seen.push(...page.ids);
        if (page.nextCursor === null) break;
        cursor = page.nextCursor;
      }
      assert.ok(count >= users.length);
      for (const u of users) assert.ok(seen.includes(u), `${u} paged`);
      assert.deepEqual(seen, [...seen].sort());
      for (const u of users) await store.leave(u, 'c');
    });
  });
}
