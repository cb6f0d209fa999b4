/**
 * Revocation while Redis refuses writes or is paused (RELIABILITY F5, F6, H3,
 * B13): two app instances on a test-owned redis-server and one SQL database.
 * A revoked access token must get 0 × 200 on either instance, at once — the
 * session state cached in Redis before the revocation must never be served
 * after it — and `/health/ready` says `degraded` while an invalidation is
 * waiting to be replayed.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { describeBackends } from '../helpers/backends.ts';
import { type SignedUp, signUp } from '../helpers/fixtures.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { waitFor } from '../helpers/wait.ts';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describeBackends(
  'revocation under Redis faults',
  (b) => {
    let redis: RedisServer;
    let admin: Redis;
    let a: FastifyInstance;
    let c: FastifyInstance;

    before(async () => {
      redis = await RedisServer.start();
      admin = new Redis(redis.url, { maxRetriesPerRequest: 0, retryStrategy: () => 200 });
      admin.on('error', () => {});
      const env = { REDIS_URL: redis.url, RATE_LIMIT_API_IP: 'off', RATE_LIMIT_API_USER: 'off' };
      a = await b.app(env);
      c = await b.app(env);
    });
    after(async () => {
      admin.disconnect();
      await redis.stop();
    });

    /** A second session of the same account, opened on instance `app`. */
    async function logIn(app: FastifyInstance, user: SignedUp): Promise<string> {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { email: user.email, password: user.password },
      });
      assert.equal(res.statusCode, 200, res.body);
      return res.json().accessToken;
    }

    /** Uses each token on both instances, so its session state is cached in Redis as active. */
    async function warm(tokens: string[]): Promise<void> {
      for (const token of tokens) {
        for (const app of [a, c]) {
          const res = await app.inject({ url: '/v1/auth/sessions', headers: bearer(token) });
          assert.equal(res.statusCode, 200, res.body);
        }
      }
    }

    /** Uses `token` `times` times on each instance, alternating; returns how many were answered 200. */
    async function accepted(token: string, times: number): Promise<{ a: number; c: number }> {
      const count = { a: 0, c: 0 };
      for (let i = 0; i < times; i++) {
        for (const [name, app] of [
          ['c', c],
          ['a', a],
        ] as const) {
          const res = await app.inject({ url: '/v1/auth/sessions', headers: bearer(token) });
          if (res.statusCode === 200) count[name] += 1;
        }
      }
      return count;
    }

    const readiness = async (app: FastifyInstance) => (await app.inject('/health/ready')).json();

    async function outOfMemory(): Promise<void> {
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.config('SET', 'maxmemory', '1');
      await assert.rejects(admin.set(`${b.redisPrefix}probe`, 'x'), /OOM/);
    }

    /**
     * Runs `revoke` on instance a while Redis answers OOM, then checks that
     * every token of `revoked` is refused on both instances at once, that a
     * reports `degraded` until memory is freed, and `ok` once it has replayed.
     */
    async function revokeUnderOom(revoke: () => Promise<void>, revoked: string[], kept: string[] = []) {
      await warm([...revoked, ...kept]);
      await outOfMemory();
      try {
        await revoke();
        for (const token of revoked) assert.deepEqual(await accepted(token, 200), { a: 0, c: 0 });
        for (const token of kept) assert.deepEqual(await accepted(token, 5), { a: 5, c: 5 });
        const ready = await readiness(a);
        assert.equal(ready.status, 'degraded');
        assert.match(ready.checks.redis.reason, /invalidation/);
      } finally {
        await admin.config('SET', 'maxmemory', '0');
      }
      await waitFor(async () => (await readiness(a)).status === 'ok', {
        what: 'a to replay the invalidation and report ok',
      });
      for (const token of revoked) assert.deepEqual(await accepted(token, 20), { a: 0, c: 0 });
    }

    it('F5: logout while Redis answers OOM: the token is refused on both instances at once', async () => {
      const user = await signUp(a);
      await revokeUnderOom(async () => {
        const res = await a.inject({ method: 'POST', url: '/v1/auth/logout', headers: user.headers });
        assert.equal(res.statusCode, 204, res.body);
      }, [user.accessToken]);
    });

    it('F5: logout-all while Redis answers OOM: every session is refused on both instances', async () => {
      const user = await signUp(a);
      const other = await logIn(c, user);
      await revokeUnderOom(async () => {
        const res = await a.inject({ method: 'POST', url: '/v1/auth/logout-all', headers: user.headers });
        assert.equal(res.statusCode, 204, res.body);
      }, [user.accessToken, other]);
    });

    it('F5: revoking another session while Redis answers OOM', async () => {
      const user = await signUp(a);
      const other = await logIn(c, user);
      const sessions = (await a.inject({ url: '/v1/auth/sessions', headers: user.headers })).json().items;
      const target = sessions.find((s: { current: boolean }) => !s.current).id;
      await revokeUnderOom(
        async () => {
          const res = await a.inject({
            method: 'DELETE',
            url: `/v1/auth/sessions/${target}`,
            headers: user.headers,
          });
          assert.equal(res.statusCode, 204, res.body);
        },
        [other],
        [user.accessToken],
      );
    });

    it('F5: password change while Redis answers OOM ends the other sessions on both instances', async () => {
      const user = await signUp(a);
      const other = await logIn(c, user);
      await revokeUnderOom(
        async () => {
          const res = await a.inject({
            method: 'POST',
            url: '/v1/auth/password',
            headers: user.headers,
            payload: { currentPassword: user.password, newPassword: 'a brand new passphrase 42' },
          });
          assert.equal(res.statusCode, 204, res.body);
        },
        [other],
        [user.accessToken],
      );
    });

    it('F5: logout while Redis is paused: refused on both instances right after it resumes', async (t) => {
      const user = await signUp(a);
      await warm([user.accessToken]);
      redis.pause();
      let logoutMs: number;
      try {
        // Let a notice the pause first (its circuit opens), as a busy instance would.
        await waitFor(
          async () => {
            await a.inject('/health/ready');
            return a.redis.health.state !== 'closed';
          },
          { what: 'a to open its circuit' },
        );
        const started = performance.now();
        const res = await a.inject({ method: 'POST', url: '/v1/auth/logout', headers: user.headers });
        logoutMs = performance.now() - started;
        assert.equal(res.statusCode, 204, res.body); // SQL committed; Redis unreachable
        assert.equal((await readiness(a)).status, 'degraded');
      } finally {
        redis.resume();
      }
      assert.deepEqual(await accepted(user.accessToken, 200), { a: 0, c: 0 });
      await waitFor(async () => (await readiness(a)).status === 'ok', { what: 'a recovered' });
      t.diagnostic(`logout during the pause answered in ${Math.round(logoutMs)} ms`);
      // Contract: the logout waits for at most one command timeout (300 ms) on top of its SQL
      // commit, never for Redis to come back; 1.5 s is a ≥ 3× margin over that.
      assert.ok(logoutMs < 1500, `logout took ${logoutMs} ms`);
    });
  },
  { only: ['services'] },
);
