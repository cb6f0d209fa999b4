/**
 * Authentication by default (@see #9): every /v1 route needs a session unless
 * it is on the explicit public list below, a route that forgets to say
 * anything is authenticated (401, never 500), and per-user limits cannot be
 * put on public routes.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { describeBackends } from '../helpers/backends.ts';
import { signUp } from '../helpers/fixtures.ts';

/** The sign-up and sign-in entry points (SPEC §5): the only /v1 routes reachable without a session. */
const PUBLIC = [
  'GET /v1/auth/oidc/:provider/callback',
  'GET /v1/auth/oidc/:provider/start',
  'POST /v1/auth/login',
  'POST /v1/auth/refresh',
  'POST /v1/auth/register',
].sort();

/** A concrete URL for a route template: every parameter becomes a well-formed id. */
const concrete = (url: string) => url.replace(/:[A-Za-z]+/g, '0190f0f0-0000-7000-8000-000000000000');

describeBackends('access rules', (b) => {
  it('every /v1 route is either on the public list or answers 401 without a token', async () => {
    const forgetful = async (app: FastifyInstance) => {
      // A route that says nothing about access: authenticated by default.
      app.get('/v1/forgetful', async () => ({ reached: true }));
    };
    const app = await b.app({}, { plugins: [forgetful] });
    const routes = app.routeAccess.filter((r) => r.method !== 'HEAD');
    const open = routes.filter((r) => r.access === 'public').map((r) => `${r.method} ${r.url}`);
    assert.deepEqual(open.sort(), PUBLIC);

    const closed = routes.filter((r) => r.access === 'authenticated');
    assert.ok(closed.length >= 9, `${closed.length} authenticated routes`);
    assert.ok(closed.some((r) => r.url === '/v1/forgetful'));
    for (const route of closed) {
      const res = await app.inject({ method: route.method as 'GET', url: concrete(route.url) });
      assert.equal(res.statusCode, 401, `${route.method} ${route.url} → ${res.statusCode}`);
      assert.equal(res.json().code, 'AUTH_UNAUTHENTICATED');
    }

    const user = await signUp(app);
    const reached = await app.inject({ url: '/v1/forgetful', headers: user.headers });
    assert.deepEqual(reached.json(), { reached: true });
  });

  it('accepts the bearer scheme in any case (RFC 9110 §11.1), and nothing but a bearer JWT', async () => {
    const app = await b.app();
    const user = await signUp(app);
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR', 'Bearer ']) {
      const res = await app.inject({
        url: '/v1/me',
        headers: { authorization: `${scheme} ${user.accessToken}` },
      });
      assert.equal(res.statusCode, 200, scheme);
    }
    const [head, payload, signature] = user.accessToken.split('.');
    for (const authorization of [
      `Basic ${user.accessToken}`,
      user.accessToken,
      `Bearer`,
      `Bearer x.y`,
      `Bearer${user.accessToken}`,
      `Bearer ${user.accessToken} x`,
      `Bearer ${user.accessToken}!`,
      // Characters base64url decoding would skip, in a token that is otherwise the valid one.
      `Bearer ${head}.${payload}!.${signature}`,
      `Bearer ${head}.${payload}.${signature}=`,
    ]) {
      const res = await app.inject({ url: '/v1/me', headers: { authorization } });
      assert.equal(res.statusCode, 401, authorization.replace(user.accessToken, '<token>').slice(0, 40));
    }
  });

  it('refuses a per-user limit on a public route when the route is registered', async () => {
    const misconfigured = async (app: FastifyInstance) => {
      app.post(
        '/v1/auth/misconfigured',
        { config: { public: true, rateLimit: [{ policy: 'room_create_user', by: 'user' }] } },
        async () => ({}),
      );
    };
    await assert.rejects(
      b.app({}, { plugins: [misconfigured] }),
      /"room_create_user" is per user, but the route is public/,
    );
  });

  it('spends a route policy per user, counted after authentication', async () => {
    const perUser = async (app: FastifyInstance) => {
      app.post(
        '/v1/per-user',
        { config: { rateLimit: [{ policy: 'room_create_user', by: 'user' }] } },
        async () => ({}),
      );
    };
    const app = await b.app({ RATE_LIMIT_ROOM_CREATE_USER: '2/1h' }, { plugins: [perUser] });
    const [ada, bob] = [await signUp(app), await signUp(app)];
    const status = async (headers: { authorization: string }) =>
      (await app.inject({ method: 'POST', url: '/v1/per-user', headers })).statusCode;
    assert.deepEqual(
      [await status(ada.headers), await status(ada.headers), await status(ada.headers)],
      [200, 200, 429],
    );
    assert.equal(
      await status(bob.headers),
      200,
      "one user's limit is not another's, even from the same address",
    );
    const anonymous = await app.inject({ method: 'POST', url: '/v1/per-user' });
    assert.equal(anonymous.statusCode, 401, 'an anonymous request never reaches the per-user count');
  });
});
