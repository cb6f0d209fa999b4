/**
 * Rate limiting through HTTP on both backends (RELIABILITY A12, SPEC §7) and
 * the per-policy behaviour while Redis is down (F4).
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { describeBackends } from '../helpers/backends.ts';
import { signUp } from '../helpers/fixtures.ts';
import { counterValue } from '../helpers/process.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { waitFor } from '../helpers/wait.ts';

async function limitedRoute(app: FastifyInstance): Promise<void> {
  app.post('/probe/register', { config: { rateLimit: [{ policy: 'register_ip', by: 'ip' }] } }, async () => ({
    ok: true,
  }));
  app.post(
    '/probe/room',
    { config: { rateLimit: [{ policy: 'room_create_user', by: 'ip' }] } },
    async () => ({ ok: true }),
  );
}

const post = (app: FastifyInstance, url: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url, headers });

describeBackends('rate limiting', (b) => {
  let app: FastifyInstance;
  before(async () => {
    app = await b.app(
      { RATE_LIMIT_REGISTER_IP: '3/1m', RATE_LIMIT_API_IP: '1000/1m' },
      { plugins: [limitedRoute] },
    );
  });

  it('allows the policy’s budget with RateLimit headers, then 429 with Retry-After', async () => {
    const ip = `10.0.0.${Math.floor(Math.random() * 250)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await app.inject({ method: 'POST', url: '/probe/register', remoteAddress: ip });
      statuses.push(res.statusCode);
      if (i < 3) {
        assert.equal(res.headers['ratelimit-policy'], '"register_ip";q=3;w=60');
        assert.match(String(res.headers.ratelimit), new RegExp(`^"register_ip";r=${2 - i};t=[1-9]\\d*$`));
      } else {
        assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
        assert.equal(res.json().code, 'RATE_LIMITED');
        assert.ok(Number(res.headers['retry-after']) >= 1 && Number(res.headers['retry-after']) <= 60);
        assert.match(String(res.headers.ratelimit), /^"register_ip";r=0;t=/);
      }
    }
    assert.deepEqual(statuses, [200, 200, 200, 429]);
  });

  it('A12: a spoofed X-Forwarded-For from an untrusted peer does not change the key', async () => {
    const ip = '10.1.0.1';
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await app.inject({
        method: 'POST',
        url: '/probe/register',
        remoteAddress: ip,
        headers: { 'x-forwarded-for': `203.0.113.${i}` },
      });
      statuses.push(res.statusCode);
    }
    assert.deepEqual(statuses, [200, 200, 200, 429]);
  });

  it('behind a trusted proxy, the forwarded client address is the key', async () => {
    const proxied = await b.app(
      { RATE_LIMIT_REGISTER_IP: '1/1m', TRUST_PROXY: '127.0.0.1' },
      { plugins: [limitedRoute] },
    );
    const from = (client: string) =>
      proxied.inject({
        method: 'POST',
        url: '/probe/register',
        remoteAddress: '127.0.0.1',
        headers: { 'x-forwarded-for': client },
      });
    assert.equal((await from('198.51.100.1')).statusCode, 200);
    assert.equal((await from('198.51.100.2')).statusCode, 200);
    assert.equal((await from('198.51.100.1')).statusCode, 429);
  });

  it('anonymous /v1 routes spend from the per-IP API budget; unlimited routes carry no headers', async () => {
    const res = await app.inject('/v1/auth/oidc/nowhere/start');
    assert.equal(res.statusCode, 404);
    assert.equal(res.headers['ratelimit-policy'], '"api_ip";q=1000;w=60');
    assert.equal((await app.inject('/health/live')).headers['ratelimit-policy'], undefined);
    const off = await b.app({ RATE_LIMIT_API_IP: 'off' });
    assert.equal((await off.inject('/v1/auth/oidc/nowhere/start')).headers['ratelimit-policy'], undefined);
  });

  it('signed-in requests spend their user’s budget, failed authentication the IP’s', async () => {
    const tight = await b.app({ RATE_LIMIT_API_IP: '3/1m' });
    const { headers } = await signUp(tight);
    const ip = '198.51.100.77';
    const me = (h: Record<string, string>) => tight.inject({ url: '/v1/me', headers: h, remoteAddress: ip });
    for (let i = 0; i < 5; i++) assert.equal((await me(headers)).statusCode, 200, 'not charged to the IP');
    const forged = { authorization: `${headers.authorization.slice(0, -2)}xx` };
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await me(forged)).statusCode);
    assert.deepEqual(statuses, [401, 401, 401, 429], 'a bad-token flood runs into the IP budget');
    assert.equal((await me(headers)).statusCode, 200, 'the signed-in user is unaffected');
  });

  it('reports decisions in /metrics', async () => {
    await post(app, '/probe/register');
    const metrics = (await app.inject('/metrics')).body;
    assert.ok(counterValue(metrics, 'parley_rate_limit_decisions_total', { policy: 'register_ip' }) > 0);
  });
});

describeBackends(
  'rate limiting with Redis down',
  (b) => {
    let redis: RedisServer;
    let a: FastifyInstance;
    let c: FastifyInstance;
    before(async () => {
      redis = await RedisServer.start();
      const env = {
        REDIS_URL: redis.url,
        RATE_LIMIT_REGISTER_IP: '5/15m:insurance',
        RATE_LIMIT_ROOM_CREATE_USER: '5/1h:closed',
        RATE_LIMIT_API_IP: '2/1m:open',
      };
      a = await b.app(env, { plugins: [limitedRoute] });
      c = await b.app(env, { plugins: [limitedRoute] });
    });
    after(() => redis.stop());

    it('F4: insurance admits at most instances × limit; closed refuses with 503; open lets through; nothing hangs', async () => {
      await redis.kill();
      await waitFor(async () => (await a.inject('/health/ready')).json().status === 'degraded', {
        what: 'a degraded',
      });
      await waitFor(async () => (await c.inject('/health/ready')).json().status === 'degraded', {
        what: 'c degraded',
      });
      let admitted = 0;
      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        const started = performance.now();
        const res = await post(i % 2 ? a : c, '/probe/register');
        times.push(performance.now() - started);
        if (res.statusCode === 200) admitted += 1;
        else assert.equal(res.statusCode, 429);
      }
      assert.equal(admitted, 10, 'two instances × 5, never unlimited');
      // With the circuit open, no decision touches Redis: a decision that paid the 300 ms command timeout
      // would put the median above it (measured: about 1 ms). Nothing may hang either: 3× the timeout is
      // the contract bound for the slowest, against ioredis's defaults that wait 10 s to over a minute.
      const commandTimeoutMs = b.config().redis.commandTimeoutMs;
      times.sort((x, y) => x - y);
      assert.ok((times[10] as number) < commandTimeoutMs, `median ${times[10]} ms`);
      assert.ok((times[19] as number) < 3 * commandTimeoutMs, `slowest ${times[19]} ms`);

      const closed = await post(a, '/probe/room');
      assert.equal(closed.statusCode, 503);
      assert.equal(closed.json().code, 'RATE_LIMIT_UNAVAILABLE');
      assert.equal(closed.headers['retry-after'], '5');

      // 5 requests on a budget of 2: each reaches the route (which refuses the empty body), none is
      // refused by the limiter — neither 429 (counted) nor 503 (the closed policy's answer).
      for (let i = 0; i < 5; i++) {
        const res = await post(a, '/v1/auth/refresh');
        assert.equal(res.statusCode, 400, res.body);
        assert.equal(res.json().code, 'VALIDATION_FAILED');
      }
    });

    it('counts exactly in Redis again once it returns, without a restart', async () => {
      await redis.restart();
      await waitFor(async () => (await a.inject('/health/ready')).json().status === 'ok', { what: 'a ok' });
      await waitFor(async () => (await c.inject('/health/ready')).json().status === 'ok', { what: 'c ok' });
      const statuses = [];
      for (let i = 0; i < 7; i++) statuses.push((await post(i % 2 ? a : c, '/probe/room')).statusCode);
      assert.deepEqual(
        statuses,
        [200, 200, 200, 200, 200, 429, 429],
        'shared and exact across both instances',
      );
    });
  },
  { only: ['services'] },
);
