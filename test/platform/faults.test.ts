/**
 * Dependency faults at the platform level (RELIABILITY F1, F2, G1, G2, G5):
 * MariaDB reached through a loopback proxy that can cut or stall it, and a
 * test-owned redis-server that is killed, paused and restarted. The bar: no
 * request hangs (Redis-touching ones answer within the command timeout),
 * readiness tells the truth, and everything recovers without a restart.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { describeBackends } from '../helpers/backends.ts';
import { insertUser, signUp } from '../helpers/fixtures.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { TcpProxy } from '../helpers/tcp-proxy.ts';
import { waitFor } from '../helpers/wait.ts';

const COMMAND_TIMEOUT_MS = 300;

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - started };
}

async function readyStatus(app: FastifyInstance): Promise<string> {
  return (await app.inject('/health/ready')).json().status;
}

describeBackends(
  'dependency faults',
  (b) => {
    describe('MariaDB through a proxy (G1, G2, G5)', () => {
      let proxy: TcpProxy;
      let app: FastifyInstance;
      let get: (url: string) => Promise<LightMyRequestResponse>;
      const userId = randomUUID();

      before(async () => {
        const dbUrl = new URL(b.env().DATABASE_URL as string);
        proxy = await TcpProxy.start(Number(dbUrl.port || 3306), dbUrl.hostname);
        dbUrl.host = `127.0.0.1:${proxy.port}`;
        app = await b.app({
          DATABASE_URL: dbUrl.toString(),
          DATABASE_CONNECT_TIMEOUT: '1s',
          DATABASE_STATEMENT_TIMEOUT: '2s',
        });
        await insertUser(b.sql().db, { id: userId, display_name: 'Fault' });
        const { headers } = await signUp(app);
        get = (url) => app.inject({ url, headers });
      });
      after(() => proxy.close());

      it('G1: with the database gone, SQL-bound reads answer 503 fast, cached ones still 200', async () => {
        assert.equal((await get(`/v1/users/${userId}`)).statusCode, 200);
        await proxy.cut();
        assert.equal((await get(`/v1/users/${userId}`)).statusCode, 200, 'served from the cache');
        for (let i = 0; i < 5; i++) {
          // A never-seen id is not cached: the request needs SQL.
          const { value: res, ms } = await timed(() => get(`/v1/users/${randomUUID()}`));
          assert.equal(res.statusCode, 503, res.body);
          assert.equal(res.json().code, 'SERVICE_UNAVAILABLE');
          assert.equal(res.headers['retry-after'], '5');
          // A contract bound (row G1: connect timeout + 1 s, ours ≤ 3 s), not a speed figure: a refused
          // connection answers in a few ms here, while a pool without a connect timeout waits ≥ 10 s.
          assert.ok(ms < 3000, `answered in ${ms} ms`);
        }
        const ready = await app.inject('/health/ready');
        assert.equal(ready.statusCode, 503);
        assert.equal(ready.json().status, 'down');
        assert.equal(
          (await app.inject('/health/live')).statusCode,
          200,
          'liveness does not depend on the DB',
        );
      });

      it('G2: when it returns the pool recovers and no request fails on a stale connection', async () => {
        await proxy.restore();
        await waitFor(async () => (await get(`/v1/users/${randomUUID()}`)).statusCode === 404, {
          timeoutMs: 5000,
          what: 'pool recovery',
        });
        const statuses = await Promise.all(
          Array.from({ length: 50 }, () => get(`/v1/users/${randomUUID()}`).then((r) => r.statusCode)),
        );
        assert.deepEqual(new Set(statuses), new Set([404]), 'every uncached read reached SQL and succeeded');
        assert.equal(await readyStatus(app), 'ok');
      });

      it('G5: a stalled database gives 503 within the statement timeout, then recovers', async () => {
        proxy.stall();
        const { value: res, ms } = await timed(() => get(`/v1/users/${randomUUID()}`));
        assert.equal(res.statusCode, 503, res.body);
        // A contract bound: the answer comes from the 2 s statement timeout (or the 1 s connect timeout on a
        // fresh connection), so after 1–2 s; 3× the statement timeout still fails a query left hanging on
        // the stalled connection, which mysql2 would never give up on by itself.
        assert.ok(ms < 3 * 2000, `answered in ${ms} ms`);
        await proxy.cut();
        await proxy.restore();
        await waitFor(async () => (await get(`/v1/users/${randomUUID()}`)).statusCode === 404, {
          timeoutMs: 5000,
          what: 'recovery after stall',
        });
      });
    });

    describe('a test-owned redis-server (F1, F2)', () => {
      let redis: RedisServer;
      let app: FastifyInstance;

      before(async () => {
        redis = await RedisServer.start();
        app = await b.app({ REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT: `${COMMAND_TIMEOUT_MS}ms` });
      });
      after(() => redis.stop());

      it('F1: killed → degraded within seconds, no request waits past the command timeout; restarted → ok', async () => {
        assert.equal(await readyStatus(app), 'ok');
        await redis.kill();
        const slowest = { ms: 0 };
        await waitFor(
          async () => {
            const { value, ms } = await timed(() => readyStatus(app));
            slowest.ms = Math.max(slowest.ms, ms);
            return value === 'degraded';
          },
          { timeoutMs: 3000, what: 'degraded' },
        );
        const ready = (await app.inject('/health/ready')).json();
        assert.equal(ready.checks.redis.status, 'down');
        assert.ok(ready.checks.redis.reason);
        for (let i = 0; i < 20; i++) {
          const { ms } = await timed(() => app.inject('/health/ready'));
          slowest.ms = Math.max(slowest.ms, ms);
        }
        // A contract bound: no request waits past the command timeout (a request that pays it takes about
        // 300 ms); 3× that leaves room for a shared machine and still fails ioredis's defaults, whose
        // reconnect and offline queue hold a request for 10 s to over a minute.
        assert.ok(slowest.ms < 3 * COMMAND_TIMEOUT_MS, `slowest request ${slowest.ms} ms`);
        const metrics = (await app.inject('/metrics')).body;
        assert.match(metrics, /parley_redis_available 0/);

        await redis.restart();
        await waitFor(async () => (await readyStatus(app)) === 'ok', {
          timeoutMs: 5000,
          what: 'ok after restart',
        });
        assert.match((await app.inject('/metrics')).body, /parley_redis_available 1/);
      });

      it('F2: paused (SIGSTOP) → requests bounded by the command timeout, degraded; resumed → ok', async () => {
        redis.pause();
        try {
          const times: number[] = [];
          for (let i = 0; i < 10; i++) times.push((await timed(() => app.inject('/health/ready'))).ms);
          // As in F1: bounded by the command timeout, with 3× room, against ioredis's unbounded wait.
          assert.ok(Math.max(...times) < 3 * COMMAND_TIMEOUT_MS, `slowest ${Math.max(...times)} ms`);
          await waitFor(async () => (await readyStatus(app)) === 'degraded', {
            timeoutMs: 3000,
            what: 'degraded',
          });
          // Once the circuit is open, requests stop paying the timeout at all. A request that paid it would
          // take ≥ 300 ms by construction (the timer never fires early), one that skips Redis about 1 ms: the
          // median of 20 tells them apart without hanging on one sample of a shared machine.
          const open: number[] = [];
          for (let i = 0; i < 20; i++) open.push((await timed(() => app.inject('/health/ready'))).ms);
          open.sort((x, y) => x - y);
          const median = open[10] as number;
          assert.ok(median < COMMAND_TIMEOUT_MS, `open-circuit requests: median ${median} ms`);
        } finally {
          redis.resume();
        }
        await waitFor(async () => (await readyStatus(app)) === 'ok', {
          timeoutMs: 5000,
          what: 'ok after resume',
        });
      });

      it('starts degraded when Redis is down at boot and picks it up when it appears', async () => {
        await redis.kill();
        const late = await b.app({ REDIS_URL: redis.url });
        assert.equal(await readyStatus(late), 'degraded');
        await redis.restart();
        await waitFor(async () => (await readyStatus(late)) === 'ok', {
          timeoutMs: 5000,
          what: 'late connect',
        });
      });
    });
  },
  { only: ['services'] },
);
