/**
 * Rooms and the speed layer (RELIABILITY H6, F1/F5-style, SPEC §1): warm list
 * pages cost no SQL; the active-room index is rebuilt from SQL when lost and
 * after Redis comes back; with Redis down every room route still answers from
 * SQL; invalidation happens only after the commit.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { describeBackends } from '../../helpers/backends.ts';
import { type SignedUp, signUp } from '../../helpers/fixtures.ts';
import { counterValue } from '../../helpers/process.ts';
import { RedisServer } from '../../helpers/redis-server.ts';
import { waitFor } from '../../helpers/wait.ts';
import { call, createRoom, type RoomBody, roomInvariantViolations } from './helpers.ts';

const ENV = { RATE_LIMIT_ROOM_CREATE_USER: 'off', RATE_LIMIT_API_IP: 'off', RATE_LIMIT_API_USER: 'off' };
const COUNT_UNIT = 2 ** 42;

async function sqlStatements(app: FastifyInstance): Promise<number> {
  const metrics = await app.inject({ url: '/metrics' });
  return counterValue(metrics.body, 'parley_sql_queries_total', {});
}

describeBackends('rooms and the speed layer', (b) => {
  let app: FastifyInstance;
  let viewer: SignedUp;
  before(async () => {
    app = await b.app(ENV);
    viewer = await signUp(app);
  });

  it('GET /v1/rooms warm: 0 SQL statements (first page, next page, a language list and the languages)', async () => {
    const owners = await Promise.all(Array.from({ length: 5 }, () => signUp(app)));
    for (const o of owners) await createRoom(app, o, { language: 'nl' });
    const urls = ['/v1/rooms?language=nl&limit=2', '/v1/rooms?limit=2', '/v1/rooms/languages'];
    const first = await call(app, viewer, 'GET', urls[0] as string);
    urls.push(`/v1/rooms?language=nl&limit=2&cursor=${first.body.nextCursor}`);
    for (const url of urls) assert.equal((await call(app, viewer, 'GET', url)).status, 200, url); // warm up
    const before = await sqlStatements(app);
    for (const url of urls)
      for (let i = 0; i < 5; i++) assert.equal((await call(app, viewer, 'GET', url)).status, 200);
    assert.equal((await sqlStatements(app)) - before, 0);
  });

  it('H6: invalidation only after the commit; a refused change (ROOM_FULL) invalidates nothing', async () => {
    const [owner, member, late] = await Promise.all([signUp(app), signUp(app), signUp(app)]);
    const room = await createRoom(app, owner, { maxParticipants: 2 });
    const seen: { what: string; committedCount: number }[] = [];
    const { cache } = app;
    const original = { invalidate: cache.invalidate, bump: cache.bump };
    const committedCount = async () =>
      (
        await b
          .sql()
          .db.selectFrom('rooms')
          .select('participant_count')
          .where('id', '=', room.id)
          .executeTakeFirstOrThrow()
      ).participant_count;
    cache.invalidate = async (namespace, ids) => {
      seen.push({ what: `invalidate ${namespace}`, committedCount: await committedCount() });
      return original.invalidate.call(cache, namespace, ids);
    };
    cache.bump = async (collections) => {
      seen.push({ what: 'bump', committedCount: await committedCount() });
      return original.bump.call(cache, collections);
    };
    try {
      assert.equal((await call(app, member, 'POST', `/v1/rooms/${room.id}/join`)).status, 200);
      assert.ok(seen.length > 0);
      for (const s of seen) assert.equal(s.committedCount, 2, `${s.what} ran before the commit`);
      seen.length = 0;
      assert.equal((await call(app, late, 'POST', `/v1/rooms/${room.id}/join`)).status, 409);
      assert.deepEqual(seen, []);
    } finally {
      Object.assign(cache, original);
    }
  });

  it('a lost index is rebuilt from SQL on the next read, and lists stay right meanwhile', async () => {
    const owners = await Promise.all(Array.from({ length: 4 }, () => signUp(app)));
    const ids: string[] = [];
    for (const o of owners) ids.push((await createRoom(app, o, { language: 'sv' })).id);
    await call(app, await signUp(app), 'POST', `/v1/rooms/${ids[0]}/join`);
    const expected = [ids[0], ids[3], ids[2], ids[1]];
    const list = async () =>
      ((await call(app, viewer, 'GET', '/v1/rooms?language=sv')).body.items as RoomBody[]).map((r) => r.id);
    assert.deepEqual(await list(), expected);
    await app.rankings.discard(['rooms:lang:sv', 'rooms:all']); // as a flush or an expiry would
    await app.cache.bump(['rooms:lang:sv']);
    assert.deepEqual(await list(), expected);
    const ranked = await app.rankings.range('rooms:lang:sv', 0, -1);
    assert.ok(Array.isArray(ranked), 'rebuilt by the read');
    assert.deepEqual(
      ranked.map((r) => r.id),
      expected,
    );
    assert.deepEqual(
      ranked.map((r) => Math.floor(r.score / COUNT_UNIT)),
      [2, 1, 1, 1],
    );
  });
});

describeBackends(
  'rooms with Redis killed during a join/leave load',
  (b) => {
    let redis: RedisServer;
    let a: FastifyInstance;
    let c: FastifyInstance;
    let people: SignedUp[];
    let roomIds: string[];

    before(async () => {
      redis = await RedisServer.start();
      const env = { ...ENV, REDIS_URL: redis.url };
      a = await b.app(env);
      c = await b.app(env);
      people = await Promise.all(Array.from({ length: 30 }, () => signUp(a)));
      roomIds = [];
      for (const [i, owner] of people.slice(0, 6).entries()) {
        roomIds.push((await createRoom(a, owner, { name: `Load ${i}`, language: i % 2 ? 'ja' : 'ko' })).id);
      }
    });
    after(() => redis.stop());

    /** Joins, leaves and lists on both instances until the deadline; counts 5xx. */
    async function load(durationMs: number) {
      const report = { requests: 0, serverErrors: 0 };
      const deadline = Date.now() + durationMs;
      await Promise.all(
        people.slice(6).map(async (person, w) => {
          while (Date.now() < deadline) {
            const app = w % 2 ? a : c;
            const roomId = roomIds[Math.floor(Math.random() * roomIds.length)] as string;
            const r = Math.random();
            const res =
              r < 0.5
                ? await call(app, person, 'POST', `/v1/rooms/${roomId}/join`)
                : r < 0.8
                  ? await call(app, person, 'POST', `/v1/rooms/${roomId}/leave`)
                  : await call(app, person, 'GET', `/v1/rooms?language=${w % 2 ? 'ja' : 'ko'}`);
            report.requests += 1;
            if (res.status >= 500) report.serverErrors += 1;
          }
        }),
      );
      return report;
    }

    /** Every active public room's count and rank in the Redis index equal SQL, per language and overall. */
    async function indexMatchesSql(app: FastifyInstance): Promise<string[]> {
      const problems: string[] = [];
      const rows = await b
        .sql()
        .db.selectFrom('rooms')
        .selectAll()
        .where('status', '=', 'active')
        .where('visibility', '=', 'public')
        .execute();
      for (const [set, language] of [
        ['rooms:all', undefined],
        ['rooms:lang:ja', 'ja'],
        ['rooms:lang:ko', 'ko'],
      ] as const) {
        const expected = rows
          .filter((r) => language === undefined || r.language === language)
          .sort(
            (x, y) =>
              y.participant_count - x.participant_count ||
              y.created_at - x.created_at ||
              (x.id < y.id ? 1 : -1),
          )
          .map((r) => `${r.id}:${r.participant_count}`);
        const ranked = await app.rankings.range(set, 0, -1);
        if (!Array.isArray(ranked)) {
          problems.push(`${set} ${ranked}`);
          continue;
        }
        const actual = ranked.map((r) => `${r.id}:${Math.floor(r.score / COUNT_UNIT)}`);
        if (actual.join() !== expected.join()) problems.push(`${set}: ${actual.join()} ≠ ${expected.join()}`);
      }
      return problems;
    }

    it('0 × 5xx while Redis is killed and restarted; afterwards the index equals SQL (100 %)', async () => {
      const running = load(6000);
      await new Promise((r) => setTimeout(r, 1500)); // let the load reach steady state with Redis up
      await redis.kill();
      await new Promise((r) => setTimeout(r, 2000)); // serve without Redis for a while
      await redis.restart();
      const report = await running;
      assert.ok(report.requests > 100, `load ran (${report.requests} requests)`);
      assert.equal(report.serverErrors, 0);
      assert.deepEqual(await roomInvariantViolations(b.sql().db), []);
      // Redis came back empty: the first list read on each instance rebuilds what it needs.
      await waitFor(() => a.redis.health.available && c.redis.health.available, { timeoutMs: 10_000 });
      for (const language of ['ja', 'ko']) {
        for (const app of [a, c]) {
          assert.equal(
            (await app.inject({ url: `/v1/rooms?language=${language}`, headers: people[0]?.headers }))
              .statusCode,
            200,
          );
        }
      }
      for (const app of [a, c]) {
        assert.equal((await app.inject({ url: '/v1/rooms', headers: people[0]?.headers })).statusCode, 200);
      }
      assert.deepEqual(await indexMatchesSql(a), []);
    });

    it('updates missed while Redis was paused (its data kept) are repaired once it answers again', async () => {
      const readLists = async () => {
        for (const query of ['?language=ja', '?language=ko', '']) {
          await a.inject({ url: `/v1/rooms${query}`, headers: people[0]?.headers });
        }
      };
      await readLists(); // every ranking built
      assert.deepEqual(await indexMatchesSql(a), []);
      redis.pause(); // commands time out; the data stays
      const movers = people.slice(20, 26);
      for (const [i, person] of movers.entries()) {
        const res = await call(a, person, 'POST', `/v1/rooms/${roomIds[i % roomIds.length]}/join`);
        assert.ok(res.status === 200 || res.status === 409, `${res.status}`);
      }
      redis.resume();
      await waitFor(() => a.redis.health.available, { timeoutMs: 10_000 });
      // The stale rankings are discarded on recovery; the next read rebuilds them.
      await waitFor(
        async () => {
          await readLists();
          return (await indexMatchesSql(a)).length === 0;
        },
        { timeoutMs: 10_000, what: 'the index to equal SQL' },
      );
    });

    it('every room route answers from SQL while Redis is down', async () => {
      await redis.kill();
      await waitFor(() => !a.redis.health.available, { timeoutMs: 10_000 });
      const [owner, guest] = people.slice(6, 8) as [SignedUp, SignedUp];
      const room = await createRoom(a, owner, { name: 'Degraded', language: 'ja' });
      const checks: [string, 'GET' | 'POST' | 'PATCH', string, object?][] = [
        ['join', 'POST', `/v1/rooms/${room.id}/join`],
        ['get by id', 'GET', `/v1/rooms/${room.id}`],
        ['get by slug', 'GET', `/v1/rooms/${room.slug}`],
        ['list', 'GET', '/v1/rooms?language=ja&limit=1'],
        ['languages', 'GET', '/v1/rooms/languages'],
        ['participants', 'GET', `/v1/rooms/${room.id}/participants`],
        ['me', 'GET', '/v1/me/room'],
      ];
      for (const [what, method, url, body] of checks) {
        const res = await call(a, guest, method, url, body);
        assert.ok(res.status < 300, `${what}: ${res.status} ${JSON.stringify(res.body)}`);
      }
      const list = await call(a, guest, 'GET', '/v1/rooms?language=ja&limit=1');
      const next = await call(
        a,
        guest,
        'GET',
        `/v1/rooms?language=ja&limit=1&cursor=${list.body.nextCursor}`,
      );
      assert.equal(next.status, 200, 'a walk continues in SQL order without its snapshot');
      assert.equal(
        (await call(a, owner, 'PATCH', `/v1/rooms/${room.id}`, { topic: 'still here' })).status,
        200,
      );
      assert.equal((await call(a, guest, 'POST', `/v1/rooms/${room.id}/leave`)).status, 204);
      await redis.restart();
    });
  },
  { only: ['services'] },
);
