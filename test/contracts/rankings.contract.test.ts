/**
 * The Rankings contract, run against the memory adapter and the Redis adapter
 * (real redis-server, per-run key prefix).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { MemoryRankings } from '../../src/infra/ranking/memory-rankings.ts';
import type { Rankings } from '../../src/infra/ranking/ranking.ts';
import { RedisRankings } from '../../src/infra/ranking/redis-rankings.ts';
import { createKeys } from '../../src/infra/redis/keys.ts';
import { withScripts } from '../../src/infra/redis/scripts.ts';
import { servicesSkipReason } from '../helpers/backends.ts';
import { silent, testRedis } from '../helpers/speed-layer.ts';

async function redisRankings() {
  const redis = await testRedis();
  const rankings = new RedisRankings({
    client: withScripts(redis.client),
    health: redis.health,
    keys: createKeys(redis.prefix),
    log: silent,
  });
  return { rankings, close: redis.close };
}

const adapters: [
  string,
  () => Promise<{ rankings: Rankings; close(): Promise<void> }>,
  string | undefined,
][] = [
  ['memory', async () => ({ rankings: new MemoryRankings(), close: async () => {} }), undefined],
  ['redis', redisRankings, servicesSkipReason],
];

for (const [name, make, skip] of adapters) {
  describe(`Rankings contract [${name}]`, { skip }, () => {
    let handle: Awaited<ReturnType<typeof make>>;
    const set = () => `set-${randomUUID()}`;
    after(() => handle?.close());

    it('a set is unreadable until built, and readable (highest score first, ties by greater id) after', async () => {
      handle ??= await make();
      const r = handle.rankings;
      const s = set();
      assert.equal(await r.range(s, 0, -1), 'absent');
      const token = await r.beginRebuild(s);
      assert.equal(await r.range(s, 0, -1), 'building');
      assert.equal(
        await r.finishRebuild(s, token, [
          { id: 'a', revision: 1, score: 5 },
          { id: 'b', revision: 1, score: 9 },
          { id: 'c', revision: 1, score: 5 },
        ]),
        true,
      );
      assert.deepEqual(await r.range(s, 0, -1), [
        { id: 'b', score: 9 },
        { id: 'c', score: 5 },
        { id: 'a', score: 5 },
      ]);
      assert.deepEqual(await r.range(s, 1, 1), [{ id: 'c', score: 5 }]);
    });

    it('an update applies only when its revision is newer, removals included', async () => {
      handle ??= await make();
      const r = handle.rankings;
      const s = set();
      await r.finishRebuild(s, await r.beginRebuild(s), []);
      await r.apply(s, [{ id: 'x', revision: 3, score: 30 }]);
      await r.apply(s, [{ id: 'x', revision: 2, score: 20 }]);
      assert.deepEqual(await r.range(s, 0, -1), [{ id: 'x', score: 30 }]);
      await r.apply(s, [{ id: 'x', revision: 4, score: null }]);
      await r.apply(s, [{ id: 'x', revision: 3, score: 30 }]);
      assert.deepEqual(await r.range(s, 0, -1), []);
    });

    it('a rebuild keeps updates applied after it began, and a superseded rebuild writes nothing', async () => {
      handle ??= await make();
      const r = handle.rankings;
      const s = set();
      const first = await r.beginRebuild(s);
      const second = await r.beginRebuild(s);
      await r.apply(s, [{ id: 'late', revision: 7, score: 70 }]);
      assert.equal(await r.finishRebuild(s, first, [{ id: 'stale', revision: 1, score: 1 }]), false);
      assert.equal(
        await r.finishRebuild(s, second, [
          { id: 'late', revision: 6, score: 60 },
          { id: 'other', revision: 1, score: 10 },
        ]),
        true,
      );
      assert.deepEqual(await r.range(s, 0, -1), [
        { id: 'late', score: 70 },
        { id: 'other', score: 10 },
      ]);
    });

    it('discard makes a set unbuilt', async () => {
      handle ??= await make();
      const r = handle.rankings;
      const s = set();
      await r.finishRebuild(s, await r.beginRebuild(s), [{ id: 'a', revision: 1, score: 1 }]);
      await r.discard([s]);
      assert.equal(await r.range(s, 0, -1), 'absent');
    });
  });
}
