/**
 * The RateLimiter contract, run against the memory adapter and the Redis
 * adapter (real redis-server, per-run key prefix).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RateLimitPolicy } from '../../src/config.ts';
import { GENERATION_RETENTION_MS } from '../../src/infra/cache/store.ts';
import type { RateLimitDecision, RateLimiter } from '../../src/infra/rate-limit/limiter.ts';
import { MemoryRateLimiter } from '../../src/infra/rate-limit/memory.ts';
import { RedisRateLimiter } from '../../src/infra/rate-limit/redis.ts';
import { createKeys } from '../../src/infra/redis/keys.ts';
import { withScripts } from '../../src/infra/redis/scripts.ts';
import { RedisTurn } from '../../src/infra/redis/turn.ts';
import { servicesSkipReason } from '../helpers/backends.ts';
import { silent, testRedis } from '../helpers/speed-layer.ts';

const policies: Record<string, RateLimitPolicy> = {
  five: { points: 5, durationMs: 60_000, whenRedisDown: 'insurance' },
  brief: { points: 2, durationMs: 1000, whenRedisDown: 'insurance' },
};

/** The Redis adapter on its own client, for the contract and the adapter's own tests. */
async function redisLimiter(maxOperations?: number) {
  const redis = await testRedis();
  const client = withScripts(redis.client);
  const turn = new RedisTurn(client, redis.health, GENERATION_RETENTION_MS, maxOperations);
  const limiter = new RedisRateLimiter({
    turn,
    health: redis.health,
    policies,
    counterKey: createKeys(redis.prefix).rateLimit,
    insurance: new MemoryRateLimiter(policies),
    log: silent,
  });
  return { limiter, client, turn, prefix: redis.prefix, close: redis.close };
}

const adapters: [
  string,
  () => Promise<{ limiter: RateLimiter; close(): Promise<void> }>,
  string | undefined,
][] = [
  ['memory', async () => ({ limiter: new MemoryRateLimiter(policies), close: async () => {} }), undefined],
  ['redis', () => redisLimiter(), servicesSkipReason],
];

for (const [name, make, skip] of adapters) {
  describe(`RateLimiter contract [${name}]`, { skip }, () => {
    let h: Awaited<ReturnType<typeof make>>;
    before(async () => {
      h = await make();
    });
    after(() => h.close());

    it('allows up to the limit, then refuses, with remaining and reset', async () => {
      const subject = randomUUID();
      const results = [];
      for (let i = 0; i < 7; i++) results.push(await h.limiter.consume('five', subject));
      assert.deepEqual(
        results.map((r) => r.allowed),
        [true, true, true, true, true, false, false],
      );
      assert.deepEqual(
        results.map((r) => r.remaining),
        [4, 3, 2, 1, 0, 0, 0],
      );
      const last = results[6] as (typeof results)[number];
      assert.equal(last.limit, 5);
      assert.ok(last.resetMs > 55_000 && last.resetMs <= 60_000, `resetMs ${last.resetMs}`);
      assert.equal(last.degraded, false);
    });

    it('is exact under concurrency: 50 parallel consumes of a limit of 5 admit exactly 5', async () => {
      const subject = randomUUID();
      const results = await Promise.all(Array.from({ length: 50 }, () => h.limiter.consume('five', subject)));
      assert.equal(results.filter((r) => r.allowed).length, 5);
    });

    it('counts a burst in arrival order: the first callers are admitted', async () => {
      const subject = randomUUID();
      const burst = [2, 1, 1, 2, 1].map((points) => h.limiter.consume('five', subject, points));
      const results = await Promise.all(burst);
      assert.deepEqual(
        results.map((r) => r.allowed),
        [true, true, true, false, false],
      );
      assert.deepEqual(
        results.map((r) => r.remaining),
        [3, 2, 1, 0, 0],
      );
    });

    it('refunds points and resets subjects', async () => {
      const subject = randomUUID();
      for (let i = 0; i < 5; i++) await h.limiter.consume('five', subject);
      await h.limiter.refund('five', subject);
      assert.equal((await h.limiter.consume('five', subject)).allowed, true);
      assert.equal((await h.limiter.consume('five', subject)).allowed, false);
      await h.limiter.reset('five', subject);
      assert.equal((await h.limiter.consume('five', subject)).remaining, 4);
    });

    it('keeps subjects and policies apart', async () => {
      const a = randomUUID();
      for (let i = 0; i < 5; i++) await h.limiter.consume('five', a);
      assert.equal((await h.limiter.consume('five', randomUUID())).allowed, true);
      assert.equal((await h.limiter.consume('brief', a)).allowed, true);
    });

    it('opens a new window after the duration', async () => {
      const subject = randomUUID();
      await h.limiter.consume('brief', subject);
      await h.limiter.consume('brief', subject);
      assert.equal((await h.limiter.consume('brief', subject)).allowed, false);
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal((await h.limiter.consume('brief', subject)).allowed, true);
    });

    it('rejects unknown policies loudly', async () => {
      await assert.rejects(h.limiter.consume('nope', 'x'), /unknown or disabled rate-limit policy/);
    });
  });
}

describe('RedisRateLimiter', { skip: servicesSkipReason }, () => {
  it("counts every consume of a turn, of many subjects and policies, in one call with the turn's reads, in arrival order", async (t) => {
    const { limiter, client, turn, prefix, close } = await redisLimiter();
    t.after(close);
    const counted = client as unknown as Record<string, (...args: unknown[]) => unknown>;
    const script = counted.turn as (...args: unknown[]) => unknown;
    let calls = 0;
    counted.turn = (...args: unknown[]) => {
      calls += 1;
      return script.apply(client, args);
    };
    const hot = randomUUID();
    const others = Array.from({ length: 50 }, () => randomUUID());
    const entry = createKeys(prefix).cache.entry('session', randomUUID());
    await client.hset(entry, 'v', 'payload', 'g', 'generation');
    const [flood, many, brief, read] = await Promise.all([
      Promise.all(Array.from({ length: 20 }, () => limiter.consume('five', hot))),
      Promise.all(others.map((s) => limiter.consume('five', s))),
      Promise.all(others.slice(0, 3).map((s) => limiter.consume('brief', s, 2))),
      turn.read(entry),
    ]);
    assert.equal(calls, 1);
    assert.deepEqual(read, { payload: 'payload', generation: 'generation' });
    // One subject's flood is counted as if one by one: the first five pass, in arrival order.
    assert.deepEqual(
      flood.map((d) => d.remaining),
      [4, 3, 2, 1, 0, ...Array(15).fill(0)],
    );
    assert.deepEqual(
      flood.map((d) => d.allowed),
      [...Array(5).fill(true), ...Array(15).fill(false)],
    );
    assert.ok(many.every((d) => d.allowed && d.remaining === 4 && d.resetMs > 59_000));
    assert.ok(brief.every((d) => d.allowed && d.remaining === 0 && d.resetMs <= 1000));
    // The next turn is a new call, and sees the counts of the last.
    assert.equal((await limiter.consume('five', hot)).allowed, false);
    assert.equal(calls, 2);
  });

  it('sends a busy turn in calls of at most maxOperations, every consume still counted in arrival order', async (t) => {
    const { limiter, client, turn, prefix, close } = await redisLimiter(4);
    t.after(close);
    const counted = client as unknown as Record<string, (...args: unknown[]) => unknown>;
    const script = counted.turn as (...args: unknown[]) => unknown;
    const sizes: number[] = [];
    counted.turn = (...args: unknown[]) => {
      sizes.push(args[0] as number);
      return script.apply(client, args);
    };
    const hot = randomUUID();
    const others = Array.from({ length: 9 }, () => randomUUID());
    const entry = createKeys(prefix).cache.entry('session', randomUUID());
    await client.hset(entry, 'v', 'payload', 'g', 'generation');
    // Per other subject: the hot subject, that subject, a read. The hot subject's consumes join
    // its increment while its call is queued and start a new one once that call has left.
    const results = await Promise.all(
      others.flatMap((s) => [limiter.consume('five', hot), limiter.consume('five', s), turn.read(entry)]),
    );
    const hotDecisions = results.filter((_, i) => i % 3 === 0) as RateLimitDecision[];
    const otherDecisions = results.filter((_, i) => i % 3 === 1) as RateLimitDecision[];
    const reads = results.filter((_, i) => i % 3 === 2);
    assert.ok(sizes.length > 1 && sizes.every((n) => n <= 4), `calls of ${sizes.join(', ')} operations`);
    assert.deepEqual(
      hotDecisions.map((d) => d.remaining),
      [4, 3, 2, 1, 0, 0, 0, 0, 0],
    );
    assert.deepEqual(
      hotDecisions.map((d) => d.allowed),
      [...Array(5).fill(true), ...Array(4).fill(false)],
    );
    assert.ok(otherDecisions.every((d) => d.allowed && d.remaining === 4));
    assert.ok(reads.every((r) => JSON.stringify(r) === '{"payload":"payload","generation":"generation"}'));
  });

  it('refunds never below zero, even after the window expired', async (t) => {
    const { limiter, close } = await redisLimiter();
    t.after(close);
    const subject = randomUUID();
    await limiter.refund('five', subject, 3);
    const d = await limiter.consume('five', subject);
    assert.equal(d.remaining, 4);
  });
});
