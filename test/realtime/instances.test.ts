/**
 * Two instances sharing MariaDB and Redis, with the real socket.io-client
 * (STYLE rule 13): delivery, revocation and presence across instances, an
 * instance killed (F11), an instance paused (J6) and Redis killed mid-run.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { PROBE_TIMEOUT_MS } from '../../src/realtime/probe.ts';
import { describeBackends } from '../helpers/backends.ts';
import { listen, signUp } from '../helpers/fixtures.ts';
import { counterValue, startServer } from '../helpers/process.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import {
  client,
  closeSockets,
  connected,
  disconnected,
  nextEvent,
  refused,
  request,
} from '../helpers/sockets.ts';
import { waitFor } from '../helpers/wait.ts';
import { call, createRoom } from '../modules/rooms/helpers.ts';

describeBackends(
  'real time across instances',
  (b) => {
    let a: FastifyInstance;
    let bApp: FastifyInstance;
    let portA: number;
    let portB: number;
    before(async () => {
      a = await b.app();
      bApp = await b.app();
      portA = await listen(a);
      portB = await listen(bApp);
    });
    after(closeSockets);

    it('an event published on A reaches the user’s socket on B', async () => {
      const u = await signUp(a);
      const onB = await connected(client(portB, { token: u.accessToken }));
      const received = nextEvent<{ type: string; data: unknown; at: string }>(onB, 'test:ping');
      a.events.publish('client.deliver', { type: 'test:ping', data: { n: 1 }, to: { users: [u.userId] } });
      const event = await received;
      assert.equal(event.type, 'test:ping');
      assert.deepEqual(event.data, { n: 1 });
    });

    it('E7: a session revoked on A disconnects its socket on B within 1 s, and B refuses it', async (t) => {
      const latencies: number[] = [];
      for (let i = 0; i < 5; i++) {
        const u = await signUp(a);
        const onB = await connected(client(portB, { token: u.accessToken }));
        const gone = disconnected(onB);
        const started = performance.now();
        const res = await a.inject({ method: 'POST', url: '/v1/auth/logout', headers: u.headers });
        assert.equal(res.statusCode, 204);
        assert.equal(await gone, 'io server disconnect');
        latencies.push(performance.now() - started);
        assert.equal(
          (await refused(client(portB, { token: u.accessToken }))).data?.code,
          'AUTH_UNAUTHENTICATED',
        );
      }
      t.diagnostic(
        `revocation → disconnect on the other instance: ${latencies.map((l) => l.toFixed(0)).join(', ')} ms`,
      );
      // SPEC §6 / E7 bound of 1 s; measured in tens of ms here.
      assert.ok(Math.max(...latencies) < 1000, String(latencies));
    });

    it('two tabs on two instances: one online transition; offline only when both are gone', async (t) => {
      const u = await signUp(a);
      const events: { status: string }[] = [];
      const tabA = client(portA, { token: u.accessToken });
      tabA.on('presence:changed', (e: { data: { status: string } }) => events.push(e.data));
      await connected(tabA);
      await waitFor(() => events.length === 1, { what: 'online' });
      const started = performance.now();
      const tabB = await connected(client(portB, { token: u.accessToken }));
      await request(tabB, 'heartbeat');
      await request(tabA, 'heartbeat');
      assert.deepEqual(
        events.map((e) => e.status),
        ['online'],
      );
      const status = async (app: FastifyInstance) =>
        (await app.inject({ url: `/v1/presence?ids=${u.userId}`, headers: u.headers })).json().items[0]
          .status;
      assert.equal(await status(a), 'online');
      assert.equal(await status(bApp), 'online');
      tabA.disconnect();
      await request(tabB, 'heartbeat');
      assert.equal(await status(a), 'online', 'one tab left');
      tabB.disconnect();
      await waitFor(async () => (await status(a)) === 'offline', { what: 'offline' });
      t.diagnostic(
        `presence transition visible on the other instance after ${(performance.now() - started).toFixed(0)} ms (incl. tabs)`,
      );
    });

    it('F11: a killed instance’s users go offline within the presence TTL', async (t) => {
      const env = b.env({ PRESENCE_TTL: '3s', PRESENCE_HEARTBEAT: '1s', LOG_LEVEL: 'warn' });
      const doomed = await startServer(env);
      try {
        const users = await Promise.all(Array.from({ length: 10 }, () => signUp(a)));
        for (const u of users) await connected(client(doomed.port, { token: u.accessToken }));
        const ids = users.map((u) => u.userId).join(',');
        const statuses = async () =>
          (await a.inject({ url: `/v1/presence?ids=${ids}`, headers: users[0]?.headers })).json().items as {
            status: string;
          }[];
        await waitFor(async () => (await statuses()).every((s) => s.status === 'online'), { what: 'online' });
        doomed.child.kill('SIGKILL');
        const killed = performance.now();
        await waitFor(async () => (await statuses()).every((s) => s.status === 'offline'), {
          timeoutMs: 15_000,
          what: 'offline after the kill',
        });
        const took = performance.now() - killed;
        t.diagnostic(`F11: 10 users offline ${took.toFixed(0)} ms after kill -9 (TTL 3000 ms)`);
        // Bound: the TTL (3 s) plus one request round; a heartbeat may have just refreshed them.
        assert.ok(took < 3000 + 1000, `${took}`);
      } finally {
        await doomed.stop();
      }
    });

    it('J6: B paused (SIGSTOP): A answers HTTP, delivers to its own sockets, counts its probes failed within the request timeout, no unhandled rejection; B catches up after SIGCONT', async (t) => {
      const intervalMs = 200;
      const probing = { REALTIME_PROBE_INTERVAL: `${intervalMs}ms` };
      const x = await b.app(probing);
      const px = await listen(x);
      const paused = await startServer(b.env({ ...probing, LOG_LEVEL: 'warn' }));
      const rejections: unknown[] = [];
      const onRejection = (err: unknown) => rejections.push(err);
      process.on('unhandledRejection', onRejection);
      const metric = async (name: string) => counterValue((await x.inject('/metrics')).body, name, {});
      try {
        const owner = await signUp(x);
        const room = await createRoom(x, owner);
        const onX = await connected(client(px, { token: owner.accessToken }));
        const revokedHere = await signUp(x);
        const revokedHereSocket = await connected(client(px, { token: revokedHere.accessToken }));
        const revokedThere = await signUp(x);
        const revokedThereSocket = await connected(client(paused.port, { token: revokedThere.accessToken }));
        const listener = await signUp(x);
        const onB = await connected(client(paused.port, { token: listener.accessToken }));
        // Both instances answer the probe before the pause.
        await waitFor(async () => (await metric('parley_ws_delivery_seconds_count')) > 0, {
          what: 'a probe round trip across both instances',
        });
        const failedBefore = await metric('parley_ws_probe_failures_total');

        paused.child.kill('SIGSTOP');
        const stoppedAt = performance.now();
        try {
          const timings: number[] = [];
          const timed = async <T>(run: () => Promise<T>): Promise<T> => {
            const started = performance.now();
            const result = await run();
            timings.push(performance.now() - started);
            return result;
          };
          // Joins and leaves move sockets through the adapter's stream: no answer from B is awaited.
          for (let i = 0; i < 3; i++) {
            const joiner = await signUp(x);
            const heard = nextEvent<{ data: { userId: string } }>(onX, 'room:member_joined', 1000);
            assert.equal(
              (await timed(() => call(x, joiner, 'POST', `/v1/rooms/${room.id}/join`))).status,
              200,
            );
            assert.equal((await heard).data.userId, joiner.userId, 'A delivers to its own sockets');
            const left = nextEvent<{ data: { userId: string } }>(onX, 'room:member_left', 1000);
            assert.equal(
              (await timed(() => call(x, joiner, 'POST', `/v1/rooms/${room.id}/leave`))).status,
              204,
            );
            assert.equal((await left).data.userId, joiner.userId);
          }
          // Revocations: A disconnects its own socket at once; B's waits for B.
          const gone = disconnected(revokedHereSocket);
          const logout = (u: typeof owner) => timed(() => call(x, u, 'POST', '/v1/auth/logout'));
          assert.equal((await logout(revokedHere)).status, 204);
          assert.equal(await gone, 'io server disconnect');
          assert.equal((await logout(revokedThere)).status, 204);
          t.diagnostic(`A's HTTP with B paused: ${timings.map((ms) => ms.toFixed(0)).join(', ')} ms`);
          // A contract bound far above the measured tens of ms: nothing on A waits for B.
          assert.ok(Math.max(...timings) < 1000, String(timings));

          // The probe needs every instance's answer: it fails at its timeout instead of hanging.
          await waitFor(async () => (await metric('parley_ws_probe_failures_total')) > failedBefore, {
            timeoutMs: 3 * (PROBE_TIMEOUT_MS + intervalMs),
            what: 'a failed probe counted on A',
          });
          const degradedMs = performance.now() - stoppedAt;
          t.diagnostic(`J6: A's first probe failure ${degradedMs.toFixed(0)} ms after SIGSTOP`);
          // The probe in flight at the stop, then its 5 s timeout; 3 s of scheduling slack.
          assert.ok(degradedMs < PROBE_TIMEOUT_MS + intervalMs + 3000, String(degradedMs));
          assert.equal((await x.inject('/health/live')).statusCode, 200);
        } finally {
          paused.child.kill('SIGCONT');
        }

        // B replays the stream it missed: the revocation made on A reaches B's socket.
        assert.equal(await disconnected(revokedThereSocket), 'io server disconnect');
        const resumedAt = performance.now();
        await waitFor(
          async () => {
            const got = nextEvent(onB, 'test:probe', 500).then(
              () => true,
              () => false,
            );
            x.events.publish('client.deliver', {
              type: 'test:probe',
              data: null,
              to: { users: [listener.userId] },
            });
            return got;
          },
          { timeoutMs: 10_000, what: 'cross-instance delivery after SIGCONT' },
        );
        t.diagnostic(`delivery A → B back ${(performance.now() - resumedAt).toFixed(0)} ms after SIGCONT`);
        const rounds = await metric('parley_ws_delivery_seconds_count');
        await waitFor(async () => (await metric('parley_ws_delivery_seconds_count')) > rounds, {
          timeoutMs: 3 * (PROBE_TIMEOUT_MS + intervalMs),
          what: 'a probe round trip after SIGCONT',
        });
        assert.equal(paused.child.exitCode, null, paused.output());
        assert.doesNotMatch(paused.output(), /unhandled|"level":(50|60)/i);
        assert.deepEqual(rejections, []);
      } finally {
        process.off('unhandledRejection', onRejection);
        paused.child.kill('SIGCONT');
        await paused.stop();
      }
    });

    it('Redis killed mid-run: sockets stay connected, no unhandled rejection; delivery across instances resumes when it returns', async (t) => {
      const redis = await RedisServer.start();
      const rejections: unknown[] = [];
      const onRejection = (err: unknown) => rejections.push(err);
      process.on('unhandledRejection', onRejection);
      try {
        const env = { REDIS_URL: redis.url };
        const x = await b.app(env);
        const y = await b.app(env);
        const [px, py] = [await listen(x), await listen(y)];
        const u = await signUp(x);
        const onX = await connected(client(px, { token: u.accessToken }));
        const onY = await connected(client(py, { token: u.accessToken }));
        let lost = 0;
        for (const s of [onX, onY]) s.on('disconnect', () => lost++);

        await redis.kill();
        for (const s of [onX, onY]) assert.deepEqual(await request(s, 'heartbeat'), { ok: true, data: null });
        const ready = await x.inject({ url: '/health/ready' });
        assert.equal(ready.json().status, 'degraded');
        // The adapter's connections notice the loss on their own (its error events are counted).
        const realtimeCheck = async (app: FastifyInstance) =>
          (await app.inject({ url: '/health/ready' })).json().checks.realtime;
        await waitFor(async () => (await realtimeCheck(x)).status === 'down', {
          what: 'the realtime check down',
        });
        assert.ok((await realtimeCheck(x)).reason);
        await waitFor(
          async () =>
            counterValue((await x.inject('/metrics')).body, 'parley_ws_adapter_errors_total', {}) > 0,
          { what: 'adapter errors counted' },
        );
        const local = await x.inject({ url: `/v1/presence?ids=${u.userId}`, headers: u.headers });
        assert.equal(local.json().items[0].status, 'online', 'instance-local presence');

        await redis.restart();
        const started = performance.now();
        await waitFor(
          async () => {
            const got = nextEvent(onY, 'test:probe', 500).then(
              () => true,
              () => false,
            );
            x.events.publish('client.deliver', { type: 'test:probe', data: null, to: { users: [u.userId] } });
            return got;
          },
          { timeoutMs: 20_000, what: 'cross-instance delivery after the restart' },
        );
        t.diagnostic(
          `F3: delivery across instances back ${(performance.now() - started).toFixed(0)} ms after Redis returned`,
        );
        await waitFor(async () => (await realtimeCheck(x)).status === 'up', {
          what: 'the realtime check up',
        });
        assert.equal(lost, 0, 'no socket was dropped');
        assert.deepEqual(rejections, []);
      } finally {
        process.off('unhandledRejection', onRejection);
        await redis.stop();
      }
    });

    it('F11: after a Redis FLUSHALL presence is rebuilt from the live sockets’ heartbeats within 2 heartbeat intervals', async (t) => {
      const redis = await RedisServer.start();
      const heartbeatMs = 1000;
      const env = { REDIS_URL: redis.url, PRESENCE_TTL: '3s', PRESENCE_HEARTBEAT: `${heartbeatMs}ms` };
      let beating: NodeJS.Timeout | undefined;
      try {
        const x = await b.app(env);
        const y = await b.app(env);
        const px = await listen(x);
        const u = await signUp(x);
        const onX = await connected(client(px, { token: u.accessToken }));
        // As a client does: a heartbeat every PRESENCE_HEARTBEAT, whatever the server answers.
        const beat = () => void request(onX, 'heartbeat').catch(() => {});
        const startBeating = () => {
          beating = setInterval(beat, heartbeatMs);
        };
        startBeating();
        // Asked on the other instance: the shared view, not the connecting instance's own.
        const status = async () =>
          (await y.inject({ url: `/v1/presence?ids=${u.userId}`, headers: u.headers })).json().items[0]
            .status;
        await waitFor(async () => (await status()) === 'online', { what: 'online before the flush' });

        // The heartbeats pause across the flush, so the offline read below cannot race one.
        clearInterval(beating);
        const admin = new Redis(redis.url);
        try {
          await admin.flushall();
        } finally {
          admin.disconnect();
        }
        assert.equal(await status(), 'offline', 'the flush emptied shared presence');
        const flushed = performance.now();
        startBeating();
        // The contract bound (2 intervals) against the next heartbeat, due 1 interval after the flush.
        await waitFor(async () => (await status()) === 'online', {
          timeoutMs: 2 * heartbeatMs,
          what: 'online again after the flush',
        });
        t.diagnostic(`presence rebuilt ${(performance.now() - flushed).toFixed(0)} ms after FLUSHALL`);
      } finally {
        clearInterval(beating);
        await redis.stop();
      }
    });
  },
  { only: ['services'] },
);
