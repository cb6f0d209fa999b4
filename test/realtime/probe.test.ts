/**
 * The delivery probe (docs/realtime.md, Operations): every REALTIME_PROBE_INTERVAL an
 * instance emits an acknowledged event through the adapter to the probe sockets and
 * observes the round trip in `parley_ws_delivery_seconds`; a round trip that does not
 * complete within the probe's timeout counts in `parley_ws_probe_failures_total`.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { PROBE_TIMEOUT_MS } from '../../src/realtime/probe.ts';
import { describeBackends } from '../helpers/backends.ts';
import { listen, signUp } from '../helpers/fixtures.ts';
import { counterValue, startServer } from '../helpers/process.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { client, closeSockets, connected, refused } from '../helpers/sockets.ts';
import { waitFor } from '../helpers/wait.ts';

const INTERVAL_MS = 100;

async function metric(app: FastifyInstance, name: string): Promise<number> {
  return counterValue((await app.inject('/metrics')).body, name, {});
}
const rounds = (app: FastifyInstance) => metric(app, 'parley_ws_delivery_seconds_count');
const failures = (app: FastifyInstance) => metric(app, 'parley_ws_probe_failures_total');

describeBackends('delivery probe', (b) => {
  after(closeSockets);

  it('observes the emit → ack round trip on /metrics every interval; the probe is no user', async (t) => {
    const app = await b.app({ REALTIME_PROBE_INTERVAL: `${INTERVAL_MS}ms`, WS_MAX_SOCKETS_PER_IP: '1' });
    const port = await listen(app);
    await waitFor(async () => (await rounds(app)) >= 3, { what: 'three probe round trips' });
    assert.equal(await failures(app), 0);
    const body = (await app.inject('/metrics')).body;
    const sum = Number(/^parley_ws_delivery_seconds_sum (\S+)/m.exec(body)?.[1]);
    t.diagnostic(`mean probe round trip: ${((sum / (await rounds(app))) * 1000).toFixed(2)} ms`);
    // Not a /v1 socket: no connected socket, no presence, no share of the per-address cap (1 here).
    assert.match(body, /^parley_ws_connected_sockets 0$/m);
    const u = await signUp(app);
    await connected(client(port, { token: u.accessToken }));
    const online = await app.inject({ url: '/v1/presence/online', headers: u.headers });
    assert.deepEqual(
      online.json().items.map((i: { userId: string }) => i.userId),
      [u.userId],
    );
  });

  it('the probe namespace refuses any client without the instance’s own key', async () => {
    const app = await b.app({ REALTIME_PROBE_INTERVAL: `${INTERVAL_MS}ms` });
    const port = await listen(app);
    const u = await signUp(app);
    for (const token of [undefined, u.accessToken, 'x'.repeat(43)]) {
      const socket = client(port, { token, namespace: '/_probe' });
      assert.equal((await refused(socket)).message, 'Invalid namespace');
    }
  });

  it('REALTIME_PROBE_INTERVAL=0 turns the probe off', async () => {
    const app = await b.app({ REALTIME_PROBE_INTERVAL: '0' });
    await listen(app);
    assert.doesNotMatch((await app.inject('/metrics')).body, /parley_ws_delivery_seconds/);
  });

  it('a server process probing every 50 ms still shuts down gracefully on SIGTERM', async () => {
    const server = await startServer(b.env({ REALTIME_PROBE_INTERVAL: '50ms', LOG_LEVEL: 'warn' }));
    try {
      await waitFor(
        async () =>
          counterValue(
            await (await fetch(`${server.url}/metrics`)).text(),
            'parley_ws_delivery_seconds_count',
            {},
          ) > 0,
        { what: 'a probe round trip in the process' },
      );
      server.child.kill('SIGTERM');
      // Contract bound: src/server.ts's 10 s grace; a probe in flight is awaited, a few ms here.
      let cap: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        server.exited,
        new Promise<'timeout'>((r) => {
          cap = setTimeout(() => r('timeout'), 8000);
        }),
      ]).finally(() => clearTimeout(cap));
      assert.equal(code, 0, server.output());
    } finally {
      await server.stop();
    }
  });
});

describeBackends(
  'delivery probe with the adapter’s Redis paused',
  (b) => {
    it('probes fail within the probe timeout and are counted, nothing crashes; they succeed again once Redis resumes', async (t) => {
      const redis = await RedisServer.start();
      const rejections: unknown[] = [];
      const onRejection = (err: unknown) => rejections.push(err);
      process.on('unhandledRejection', onRejection);
      try {
        const app = await b.app({ REDIS_URL: redis.url, REALTIME_PROBE_INTERVAL: `${INTERVAL_MS}ms` });
        await listen(app);
        await waitFor(async () => (await rounds(app)) > 0, { what: 'a probe round trip' });
        redis.pause();
        const paused = performance.now();
        try {
          // One probe may be in flight at the pause; the next one times out after PROBE_TIMEOUT_MS.
          await waitFor(async () => (await failures(app)) > 0, {
            timeoutMs: 3 * (PROBE_TIMEOUT_MS + INTERVAL_MS),
            what: 'a probe failure counted',
          });
          t.diagnostic(`first probe failure ${(performance.now() - paused).toFixed(0)} ms after the pause`);
          assert.equal((await app.inject('/health/live')).statusCode, 200);
        } finally {
          redis.resume();
        }
        const before = await rounds(app);
        await waitFor(async () => (await rounds(app)) > before, {
          timeoutMs: 3 * (PROBE_TIMEOUT_MS + INTERVAL_MS),
          what: 'a probe round trip after the resume',
        });
        assert.deepEqual(rejections, []);
      } finally {
        process.off('unhandledRejection', onRejection);
        await redis.stop();
      }
    });

    it('closing while Redis is paused, which then dies, with a socket connected and a round pending: ends within the probe timeout, no unhandled rejection', async (t) => {
      const redis = await RedisServer.start();
      const rejections: unknown[] = [];
      const onRejection = (err: unknown) => rejections.push(err);
      process.on('unhandledRejection', onRejection);
      // A connection of the test's own, closed by the same death as the adapter's.
      const witness = new Redis(redis.url, { retryStrategy: () => null });
      witness.on('error', () => {});
      try {
        const app = await b.app({ REDIS_URL: redis.url, REALTIME_PROBE_INTERVAL: `${INTERVAL_MS}ms` });
        const port = await listen(app);
        const u = await signUp(app);
        await connected(client(port, { token: u.accessToken }));
        await witness.ping();
        await waitFor(async () => (await rounds(app)) > 0, { what: 'a probe round trip' });
        redis.pause();
        // The probe's commands wait for Redis's answer, and so does the socket's recovery session
        // once the shutdown closes its transport; a connection closing under them rejects them.
        await waitFor(async () => (await failures(app)) > 0, {
          timeoutMs: 3 * (PROBE_TIMEOUT_MS + INTERVAL_MS),
          what: 'a probe failure counted',
        });
        const closing = performance.now();
        await app.close();
        const took = performance.now() - closing;
        t.diagnostic(`closed in ${took.toFixed(0)} ms`);
        // A round in flight is awaited: at most PROBE_TIMEOUT_MS.
        assert.ok(took < PROBE_TIMEOUT_MS + 3000, String(took));
        const ended = once(witness, 'end');
        await redis.kill();
        await ended;
        await new Promise((resolve) => setImmediate(resolve));
        assert.deepEqual(rejections.map(String), []);
      } finally {
        process.off('unhandledRejection', onRejection);
        witness.disconnect();
        await redis.stop();
      }
    });
  },
  { only: ['services'] },
);
