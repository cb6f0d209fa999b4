/**
 * The cache mechanism on both backends (RELIABILITY H1, H2, H5 in-process,
 * H6, decision 6): no stale value survives a write, invalidation follows the
 * commit, stampedes load once, grace serves stale on loader failure, pages go
 * stale with one bump, and (services) a write on instance A is seen by B.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Cache, CacheOptions } from '../../src/infra/cache/cache.ts';
import { unitOfWork } from '../../src/infra/db/unit-of-work.ts';
import { describeBackends } from '../helpers/backends.ts';
import { insertUser } from '../helpers/fixtures.ts';
import {
  bareCache,
  countingReads,
  memoryStore,
  naive,
  redisStore,
  type StoreHandle,
} from '../helpers/speed-layer.ts';
import { waitFor } from '../helpers/wait.ts';

const NS = 'h-test';
const TTL = { ttl: 60_000 };

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describeBackends('cache', (b) => {
  let app: FastifyInstance;
  let store: () => Promise<StoreHandle>;

  before(async () => {
    app = await b.app();
    store = () =>
      b.backend === 'services'
        ? redisStore(b.env().REDIS_URL as string, b.redisPrefix)
        : Promise.resolve(memoryStore());
  });

  const displayName = async (id: string) =>
    (
      await b
        .sql()
        .db.selectFrom('users')
        .select('display_name')
        .where('id', '=', id)
        .executeTakeFirstOrThrow()
    ).display_name;

  /** Commit a new display name, then invalidate — exactly as services do it. */
  const write = (cache: Cache, id: string, name: string) =>
    unitOfWork(b.sql().db, async (trx, afterCommit) => {
      await trx.updateTable('users').set({ display_name: name }).where('id', '=', id).execute();
      afterCommit(() => cache.invalidate(NS, [id]));
    });

  /**
   * Starts a read of `id` that misses, loads the row and then holds it: resolves
   * once the row is loaded, with the read's result and the release of the hold.
   */
  async function heldRead(cache: Cache, id: string, options: CacheOptions) {
    const loaded = deferred();
    const gate = deferred();
    const result = cache.getOrSet(
      NS,
      id,
      async () => {
        const name = await displayName(id);
        loaded.resolve();
        await gate.promise;
        return name;
      },
      options,
    );
    await loaded.promise;
    return { result, release: gate.resolve };
  }

  /**
   * H1: a reader misses and loads the old row; a writer commits and
   * invalidates; only then does the reader try to store the old row.
   * Returns what a later read sees.
   */
  async function staleSetInterleaving(cache: Cache): Promise<string> {
    const { id } = await insertUser(b.sql().db, { display_name: 'old' });
    const reader = await heldRead(cache, id, TTL); // the reader holds the old row
    await write(cache, id, 'new');
    reader.release();
    assert.equal(await reader.result, 'old', 'the overlapping read may return the old row');
    return cache.getOrSet(NS, id, () => displayName(id), TTL);
  }

  describe('H1: the stale-set race', () => {
    it('leaves no stale value behind', async () => {
      const h = await store();
      try {
        assert.equal(await staleSetInterleaving(bareCache(h)), 'new');
      } finally {
        await h.close();
      }
    });

    it('is detected by this test on a naive cache that stores unconditionally (mutation check)', async () => {
      const h = await store();
      try {
        const naiveCache = bareCache({ ...h, store: naive(h.store) });
        assert.equal(await staleSetInterleaving(naiveCache), 'old', 'the naive variant serves the stale row');
      } finally {
        await h.close();
      }
    });

    it('holds for the app cache too (L1 + bus in services mode)', async () => {
      assert.equal(await staleSetInterleaving(app.cache), 'new');
    });
  });

  it('H6: invalidation runs only after commit; a rollback leaves the cache untouched', async () => {
    const { id } = await insertUser(b.sql().db, { display_name: 'kept' });
    assert.equal(await app.cache.getOrSet(NS, id, () => displayName(id), TTL), 'kept');
    const invalidated: string[] = [];
    await assert.rejects(
      unitOfWork(b.sql().db, async (trx, afterCommit) => {
        await trx.updateTable('users').set({ display_name: 'rolled-back' }).where('id', '=', id).execute();
        afterCommit(async () => {
          invalidated.push(id);
        });
        throw new Error('abort');
      }),
      /abort/,
    );
    assert.deepEqual(invalidated, []);
    assert.equal(await displayName(id), 'kept');
    let order = '';
    await unitOfWork(b.sql().db, async (trx, afterCommit) => {
      await trx.updateTable('users').set({ display_name: 'committed' }).where('id', '=', id).execute();
      afterCommit(async () => {
        order += 'hook';
      });
      order += 'work;';
    });
    assert.equal(order, 'work;hook');
  });

  it('reads through and serves the new profile right after an update', async () => {
    const { id } = await insertUser(b.sql().db, { display_name: 'before' });
    assert.equal((await app.users.getPublicProfile(id)).displayName, 'before');
    await app.users.updateProfile(id, { display_name: 'after' });
    assert.equal((await app.users.getPublicProfile(id)).displayName, 'after');
  });

  it('H5 (in-process): 500 concurrent reads of a cold key run the loader once', async () => {
    const id = randomUUID();
    let loads = 0;
    const values = await Promise.all(
      Array.from({ length: 500 }, () =>
        app.cache.getOrSet(
          NS,
          id,
          async () => {
            loads += 1;
            await new Promise((r) => setTimeout(r, 20));
            return 'v';
          },
          TTL,
        ),
      ),
    );
    assert.equal(loads, 1);
    assert.deepEqual(values, Array(500).fill('v'));
  });

  describe('authorization reads (l1: false)', () => {
    const AUTHZ = { ttl: 60_000, l1: false };

    /** A request that arrives after a write completed is handled in a later event-loop turn (turn-batch.ts). */
    const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

    it('never join a read sent in an earlier turn: a revocation committed in between is seen', async (t) => {
      const { id } = await insertUser(b.sql().db, { display_name: 'active' });
      const handle = await store();
      t.after(() => handle.close());
      const cache = bareCache(handle);
      const early = await heldRead(cache, id, AUTHZ); // the early read holds the pre-revocation row
      // Revoked through another instance: this one learns of it only from the store.
      await write(bareCache(handle), id, 'revoked');
      await nextTurn(); // with the in-process store, the write above may complete without leaving the turn
      const late = cache.getOrSet(NS, id, () => displayName(id), AUTHZ);
      early.release();
      assert.equal(
        await early.result,
        'active',
        'the read that began before the revocation may see the old state',
      );
      assert.equal(await late, 'revoked');
    });

    it('share one store read among the callers of one event-loop turn', async (t) => {
      const handle = await store();
      t.after(() => handle.close());
      const counted = countingReads(handle.store);
      const cache = bareCache({ ...handle, store: counted.store });
      const id = randomUUID();
      await cache.getOrSet(NS, id, async () => 'v', AUTHZ);
      await nextTurn(); // the warm-up read above is this turn's; the burst below starts a new one
      const before = counted.reads();
      const values = await Promise.all(
        Array.from({ length: 50 }, () => cache.getOrSet(NS, id, async () => 'reloaded', AUTHZ)),
      );
      assert.equal(counted.reads() - before, 1);
      assert.deepEqual(values, Array(50).fill('v'), 'every caller got the stored value, none reloaded');
    });
  });

  it('serves a recently expired value when the loader fails, within grace only', async () => {
    let failures = 0;
    const fail = async (): Promise<string> => {
      failures += 1;
      throw new Error('sql down');
    };
    // Each sleep outlasts the 50 ms TTL (a timer never fires early), so each second read is a miss
    // that must call the failing loader: the counts prove the stale value came from grace, not from a
    // still-fresh entry.
    const id = randomUUID();
    await app.cache.getOrSet(NS, id, async () => 'cached', { ttl: 50, grace: 60_000 });
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(await app.cache.getOrSet(NS, id, fail, { ttl: 50, grace: 60_000 }), 'cached');
    assert.equal(failures, 1, 'the expired entry was reloaded, and the failure fell back to grace');
    const other = randomUUID();
    await app.cache.getOrSet(NS, other, async () => 'cached', { ttl: 50 });
    await new Promise((r) => setTimeout(r, 80));
    await assert.rejects(app.cache.getOrSet(NS, other, fail, { ttl: 50 }), /^Error: sql down$/);
    assert.equal(failures, 2);
  });

  it('makes every page of a collection stale with one bump', async () => {
    const collection = `rooms-${randomUUID()}`;
    let data = 'v1';
    const page = (n: number) =>
      app.cache.getOrSetPage(NS, collection, `p${n}`, async () => `${data}:p${n}`, TTL);
    assert.deepEqual([await page(1), await page(2)], ['v1:p1', 'v1:p2']);
    data = 'v2';
    assert.deepEqual([await page(1), await page(2)], ['v1:p1', 'v1:p2'], 'cached');
    await app.cache.bump([collection]);
    assert.deepEqual([await page(1), await page(2)], ['v2:p1', 'v2:p2']);
  });

  it('H2: randomized reads and writes leave 0 stale reads and every cached value equal to SQL', async () => {
    const rows = await Promise.all(
      Array.from({ length: 20 }, () => insertUser(b.sql().db, { display_name: 'v0' })),
    );
    const version = new Map(rows.map((r) => [r.id, 0]));
    const completed = new Map(rows.map((r) => [r.id, 0])); // highest version whose write has returned
    const writing = new Set<string>();
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const violations: string[] = [];
    let reads = 0;
    let writes = 0;
    /** Reads that began while a write of the same row was in flight: the interleavings under test. */
    let racing = 0;
    const read = (id: string) => app.cache.getOrSet(NS, `h2:${id}`, () => displayName(id), TTL);
    const writeNext = async (id: string) => {
      const next = (version.get(id) ?? 0) + 1;
      version.set(id, next);
      await unitOfWork(b.sql().db, async (trx, afterCommit) => {
        await trx
          .updateTable('users')
          .set({ display_name: `v${next}` })
          .where('id', '=', id)
          .execute();
        afterCommit(() => app.cache.invalidate(NS, [`h2:${id}`]));
      });
      completed.set(id, next);
    };
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let op = 0; op < 120; op++) {
          let row = rows[Math.floor(random() * rows.length)] as { id: string };
          // Half the time, aim at a row being written right now: those reads are the interleavings under test,
          // and with uniform picks they are rare (SQLite's writes are quick: a few per thousand reads).
          const inFlight = [...writing];
          if (inFlight.length > 0 && random() < 0.5)
            row = { id: inFlight[Math.floor(random() * inFlight.length)] as string };
          if (random() < 0.2 && !writing.has(row.id)) {
            writing.add(row.id); // one writer per row at a time, so versions commit in order
            await writeNext(row.id).finally(() => writing.delete(row.id));
            writes += 1;
          } else {
            reads += 1;
            if (writing.has(row.id)) racing += 1;
            const floor = completed.get(row.id) ?? 0;
            const seen = Number((await read(row.id)).slice(1));
            if (seen < floor) violations.push(`${row.id}: read v${seen} after v${floor} completed`);
          }
          if (random() < 0.3) await new Promise((r) => setTimeout(r, Math.floor(random() * 5)));
        }
      }),
    );
    assert.deepEqual(violations, []);
    // The history is not vacuous: both kinds of operation ran, and reads overlapped writes of their row.
    assert.equal(reads + writes, 16 * 120);
    assert.ok(
      writes >= 100 && reads >= 1000 && racing >= 5,
      `${reads} reads, ${writes} writes, ${racing} racing`,
    );
    for (const row of rows) assert.equal(await read(row.id), await displayName(row.id), 'cache equals SQL');
  });

  describe('two instances on one Redis', {
    skip: b.backend !== 'services' && 'embedded mode is one instance by design',
  }, () => {
    let other: FastifyInstance;
    before(async () => {
      other = await b.app();
    });

    it('a write on A is served by B (L2 invalidated, B’s L1 dropped via the bus)', async () => {
      const { id } = await insertUser(b.sql().db, { display_name: 'one' });
      assert.equal((await other.users.getPublicProfile(id)).displayName, 'one'); // B caches it in L1
      assert.equal((await app.users.getPublicProfile(id)).displayName, 'one');
      await app.users.updateProfile(id, { display_name: 'two' });
      // B's L1 copy would otherwise live 5 s (the L1 TTL): seeing the write well within that proves the
      // bus dropped it. 2.5 s is half the TTL, and hundreds of times what a loopback publish takes.
      await waitFor(async () => (await other.users.getPublicProfile(id)).displayName === 'two', {
        timeoutMs: 2500,
        intervalMs: 2,
        what: 'B to see the write',
      });
    });

    it('a bump on A makes B serve the new page at once: versions sit in L1, dropped over the bus', async () => {
      const collection = `rooms-${randomUUID()}`;
      let data = 'v1';
      const page = (instance: FastifyInstance) =>
        instance.cache.getOrSetPage(NS, collection, 'p1', async () => data, TTL);
      assert.equal(await page(other), 'v1'); // B holds the version (and the page) in L1
      data = 'v2';
      assert.equal(await page(other), 'v1', 'cached');
      await app.cache.bump([collection]);
      // Without the bus B would keep its version for the 5 s L1 TTL; 2.5 s is half of it.
      await waitFor(async () => (await page(other)) === 'v2', {
        timeoutMs: 2500,
        intervalMs: 2,
        what: 'B to see the bump',
      });
      assert.equal(await page(app), 'v2', 'the bumping instance at once');
    });

    it('authorization data (l1: false) is never served from L1', async () => {
      const id = randomUUID();
      let value = 'granted';
      const read = (instance: FastifyInstance) =>
        instance.cache.getOrSet('authz', id, async () => value, { ttl: 60_000, l1: false });
      assert.equal(await read(other), 'granted');
      value = 'revoked';
      await app.cache.invalidate('authz', [id]); // bus delivery not awaited: B must not depend on it
      assert.equal(await read(other), 'revoked');
    });

    it('H5 (across instances): concurrent cold reads on two instances load once in total', async () => {
      const id = randomUUID();
      let loads = 0;
      const loader = async () => {
        loads += 1;
        await new Promise((r) => setTimeout(r, 50));
        return 'v';
      };
      await Promise.all(
        Array.from({ length: 200 }, (_, i) => (i % 2 ? app : other).cache.getOrSet(NS, id, loader, TTL)),
      );
      assert.equal(loads, 1);
    });
  });
});
