/**
 * Dependency faults at the platform level (RELIABILITY F1, F2, G1, G2, G8, D16):
 * MariaDB reached through a loopback proxy that can cut or black-hole it, and a
 * test-owned redis-server that is killed, paused and restarted. The bar: no
 * request hangs (Redis-touching ones answer within the command timeout),
 * readiness tells the truth, and everything recovers without a restart.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Agent, type IncomingHttpHeaders, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { createDatabase, isDatabaseUnavailable } from '../../src/infra/db/kysely.ts';
import { describeBackends } from '../helpers/backends.ts';
import { insertUser, signUp } from '../helpers/fixtures.ts';
import { startServer } from '../helpers/process.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { TcpProxy } from '../helpers/tcp-proxy.ts';
import { waitFor } from '../helpers/wait.ts';

const COMMAND_TIMEOUT_MS = 300;
const STATEMENT_TIMEOUT_MS = 1000;
/** src/server.ts's shutdown grace, after which it exits 1. */
const SHUTDOWN_GRACE_MS = 10_000;

const LOGIN = { email: 'nobody@example.test', password: 'pw long enough 1' };

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  socket: Socket;
}

/** node:http, for control over keep-alive sockets (fetch hides them). */
function httpRequest(
  port: number,
  method: string,
  path: string,
  agent: Agent,
  json?: object,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        agent,
        headers: json ? { 'content-type': 'application/json' } : {},
      },
      (res) => {
        // Taken now: a keep-alive agent detaches the socket once the response ends.
        const { socket } = res;
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, socket }));
      },
    );
    req.on('error', reject);
    req.end(json ? JSON.stringify(json) : undefined);
  });
}

/** Logins the server has logged receiving. */
function loginsReceived(output: string): number {
  return output
    .split('\n')
    .filter((line) => line.includes('incoming request') && line.includes('/v1/auth/login')).length;
}

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
    describe('MariaDB through a proxy (G1, G2, G8)', () => {
      let proxy: TcpProxy;
      let app: FastifyInstance;
      let get: (url: string) => Promise<LightMyRequestResponse>;
      let proxyUrl: string;
      const userId = randomUUID();
      /** The database settings of this backend, reached through the proxy. */
      const proxied = (env: Record<string, string>) =>
        b.config({ DATABASE_URL: proxyUrl, ...env }).db.primary;

      before(async () => {
        const dbUrl = new URL(b.env().DATABASE_URL as string);
        proxy = await TcpProxy.start(Number(dbUrl.port || 3306), dbUrl.hostname);
        dbUrl.host = `127.0.0.1:${proxy.port}`;
        proxyUrl = dbUrl.toString();
        app = await b.app({
          DATABASE_URL: proxyUrl,
          DATABASE_CONNECT_TIMEOUT: '1s',
          DATABASE_STATEMENT_TIMEOUT: `${STATEMENT_TIMEOUT_MS}ms`,
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

      it('G8: black-holed (proxy paused), every SQL-bound request answers a 503 problem within the statement deadline', async () => {
        // Warm several pool connections, so the pause catches idle ones as well as new connects.
        await Promise.all(Array.from({ length: 6 }, () => get(`/v1/users/${randomUUID()}`)));
        proxy.pause();
        try {
          const post = (url: string, payload: object, i: number) =>
            app.inject({ method: 'POST', url, payload, remoteAddress: `10.88.0.${i + 1}` });
          // More requests than the pool has connections: some wait for one, some open new ones.
          const requests = [
            ...Array.from({ length: 10 }, () => () => get(`/v1/users/${randomUUID()}`)),
            ...Array.from(
              { length: 4 },
              (_, i) => () =>
                post(
                  '/v1/auth/login',
                  { email: `${randomUUID()}@example.test`, password: 'pw long enough 1' },
                  i,
                ),
            ),
            // Register runs in a transaction.
            ...Array.from(
              { length: 2 },
              (_, i) => () =>
                post(
                  '/v1/auth/register',
                  {
                    email: `${randomUUID()}@example.test`,
                    password: 'correct horse fault staple',
                    displayName: 'F',
                  },
                  i + 10,
                ),
            ),
          ];
          const results = await Promise.all(requests.map((request) => timed(request)));
          for (const { value: res, ms } of results) {
            assert.equal(res.statusCode, 503, res.body);
            assert.match(res.headers['content-type'] as string, /^application\/problem\+json/);
            assert.equal(res.json().code, 'SERVICE_UNAVAILABLE');
            assert.equal(res.headers['retry-after'], '5');
            // D16: the body names no host, port or SQL.
            assert.doesNotMatch(res.body, /127\.0\.0\.1|select|insert|timeout|PROTOCOL/i);
            // Contract: the statement deadline (+ one wait for a connection), 3× margin for a loaded machine.
            assert.ok(ms <= 3 * STATEMENT_TIMEOUT_MS, `answered in ${Math.round(ms)} ms`);
          }
          const ready = await app.inject('/health/ready');
          assert.equal(ready.statusCode, 503);
          assert.equal(ready.json().checks.database.status, 'down');
        } finally {
          proxy.resume();
        }
        const resumed = performance.now();
        await waitFor(async () => (await get(`/v1/users/${randomUUID()}`)).statusCode === 404, {
          timeoutMs: 5000,
          intervalMs: 100,
          what: 'the pool serving again after the resume',
        });
        const recoveryMs = performance.now() - resumed;
        const statuses = await Promise.all(
          Array.from({ length: 30 }, () => get(`/v1/users/${randomUUID()}`).then((r) => r.statusCode)),
        );
        assert.deepEqual(new Set(statuses), new Set([404]), `recovered in ${Math.round(recoveryMs)} ms`);
        assert.equal(await readyStatus(app), 'ok');
      });

      it('G8: a connection black-holed inside a transaction fails it within the deadline and is not reused', async () => {
        const db = createDatabase(
          // One connection: were the dead one returned to the pool, the next query would queue behind it.
          proxied({ DATABASE_STATEMENT_TIMEOUT: `${STATEMENT_TIMEOUT_MS}ms`, DATABASE_POOL_SIZE: '1' }),
        );
        try {
          const { ms } = await timed(() =>
            assert.rejects(
              db.db.transaction().execute(async (trx) => {
                await sql`select 1`.execute(trx);
                proxy.pause();
                await sql`select 2`.execute(trx);
              }),
              (err) => isDatabaseUnavailable(err),
            ),
          );
          assert.ok(ms <= 3 * STATEMENT_TIMEOUT_MS, `failed after ${Math.round(ms)} ms`);
          const next = await timed(() => assert.rejects(db.ping(), (err) => isDatabaseUnavailable(err)));
          assert.ok(
            next.ms <= 3 * STATEMENT_TIMEOUT_MS,
            `the next query failed after ${Math.round(next.ms)} ms`,
          );
          proxy.resume();
          await waitFor(() => db.ping().then(() => true), { timeoutMs: 5000, what: 'a fresh connection' });
        } finally {
          proxy.resume();
          await db.close();
        }
      });

      it('G8: a connect that never completes fails within the connect timeout; closing the pool does not hang', async () => {
        const connectMs = 500;
        const db = createDatabase(
          proxied({ DATABASE_CONNECT_TIMEOUT: `${connectMs}ms`, DATABASE_STATEMENT_TIMEOUT: '30s' }),
        );
        proxy.pause();
        try {
          const { ms } = await timed(() => assert.rejects(db.ping(), (err) => isDatabaseUnavailable(err)));
          assert.ok(ms <= 3 * connectMs, `failed after ${Math.round(ms)} ms`);
          // One connect stays in flight when the pool is closed.
          const pending = db.ping().catch(() => {});
          const closed = await timed(() => db.close());
          assert.ok(closed.ms <= 3 * connectMs, `closed in ${Math.round(closed.ms)} ms`);
          await pending;
        } finally {
          proxy.resume();
        }
      });

      it('G8: SIGTERM while black-holed: in-flight answered with Connection: close, idle keep-alive closed, late requests 503, exit 0', async () => {
        const server = await startServer({
          ...b.env({ LOG_LEVEL: 'info' }),
          DATABASE_URL: proxyUrl,
          DATABASE_STATEMENT_TIMEOUT: `${STATEMENT_TIMEOUT_MS}ms`,
          DATABASE_CONNECT_TIMEOUT: '1s',
        });
        const busy = new Agent({ keepAlive: true });
        const idle = new Agent({ keepAlive: true });
        const raw = connect(server.port, '127.0.0.1');
        try {
          assert.equal((await httpRequest(server.port, 'POST', '/v1/auth/login', busy, LOGIN)).status, 401);
          const idleRes = await httpRequest(server.port, 'GET', '/health/live', idle);
          assert.equal(idleRes.headers.connection, 'keep-alive');
          const idleClosed = new Promise((resolve) => idleRes.socket.once('close', resolve));
          // A request whose headers are still arriving when the close starts.
          raw.write('POST /v1/auth/login HTTP/1.1\r\nHost: parley\r\nContent-Type: application/json\r\n');
          const rawAnswer = new Promise<string>((resolve) => {
            let text = '';
            raw.on('data', (d) => {
              text += d;
            });
            raw.once('close', () => resolve(text));
          });

          proxy.pause();
          const inFlight = httpRequest(server.port, 'POST', '/v1/auth/login', busy, LOGIN);
          // The signal goes once the server has the request (it then waits on SQL for the whole deadline).
          await waitFor(() => loginsReceived(server.output()) === 2, { what: 'the in-flight request' });
          server.child.kill('SIGTERM');
          await waitFor(() => server.output().includes('shutting down'), { what: 'the shutdown' });
          await idleClosed;
          const body = JSON.stringify({ email: 'late@example.test', password: 'pw long enough 1' });
          raw.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);

          const res = await inFlight;
          assert.equal(res.status, 503, res.body);
          assert.equal(res.headers.connection, 'close');
          assert.equal(JSON.parse(res.body).code, 'SERVICE_UNAVAILABLE');
          const late = await rawAnswer;
          assert.match(late, /^HTTP\/1\.1 503 /);
          assert.match(late, /\r\nconnection: close\r\n/i);
          assert.match(late, /\r\nretry-after: 5\r\n/i);
          assert.match(late, /"code":"SERVICE_UNAVAILABLE"/);
          const code = await Promise.race([
            server.exited,
            new Promise((r) => setTimeout(() => r('still running'), SHUTDOWN_GRACE_MS)),
          ]);
          assert.equal(code, 0, server.output());
        } finally {
          proxy.resume();
          busy.destroy();
          idle.destroy();
          raw.destroy();
          await server.stop();
        }
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
