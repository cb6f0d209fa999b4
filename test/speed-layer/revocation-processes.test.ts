/**
 * Revocation across a Redis pause with two real server processes (@see #10,
 * RELIABILITY F5): a session logged out on process A while the test-owned
 * Redis is stopped (SIGSTOP) must be refused by process B — and A — from the
 * first request after Redis resumes (SIGCONT). Before the fix, B accepted the
 * revoked token for about a second: A's invalidation had failed during the
 * pause and B read the stale "active" state from Redis until A replayed it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { describeBackends } from '../helpers/backends.ts';
import { type ServerProcess, startServer } from '../helpers/process.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { waitFor } from '../helpers/wait.ts';

describeBackends(
  'revocation across a Redis pause, two processes',
  (b) => {
    let redis: RedisServer;
    let a: ServerProcess;
    let c: ServerProcess;

    before(async () => {
      redis = await RedisServer.start();
      const env = b.env({ REDIS_URL: redis.url, RATE_LIMIT_API_IP: 'off', RATE_LIMIT_API_USER: 'off' });
      [a, c] = await Promise.all([startServer(env), startServer(env)]);
    });
    after(async () => {
      await Promise.all([a?.stop(), c?.stop()]);
      await redis.stop();
    });

    const me = (server: ServerProcess, token: string) =>
      fetch(`${server.url}/v1/me`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
    const ready = async (server: ServerProcess) =>
      (await (await fetch(`${server.url}/health/ready`)).json()) as { checks: { redis: { status: string } } };

    it('F5: a logout made on A while Redis is paused is refused on B and A right after it resumes', async () => {
      const register = await fetch(`${a.url}/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          email: `${randomUUID()}@example.test`,
          password: 'correct horse paused staple',
          displayName: 'Paused',
        }),
      });
      assert.equal(register.status, 201);
      const { accessToken } = (await register.json()) as { accessToken: string };
      // Both processes have read the session as active, so Redis holds that state.
      assert.deepEqual([await me(a, accessToken), await me(c, accessToken)], [200, 200]);

      redis.pause();
      try {
        // A busy instance notices the pause: its circuit opens (readiness no longer `up`).
        await waitFor(
          async () => {
            await me(a, accessToken);
            return (await ready(a)).checks.redis.status !== 'up';
          },
          { what: 'A to notice the pause' },
        );
        const logout = await fetch(`${a.url}/v1/auth/logout`, {
          method: 'POST',
          headers: { authorization: `Bearer ${accessToken}` },
        });
        assert.equal(logout.status, 204); // committed in SQL; Redis unreachable
      } finally {
        redis.resume();
      }
      const accepted = { a: 0, c: 0 };
      for (let i = 0; i < 200; i++) {
        if ((await me(c, accessToken)) === 200) accepted.c += 1;
        if ((await me(a, accessToken)) === 200) accepted.a += 1;
      }
      assert.deepEqual(accepted, { a: 0, c: 0 });
    });
  },
  { only: ['services'] },
);
