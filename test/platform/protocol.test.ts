/**
 * HTTP protocol details of the contract (SPEC §5, §7): the 401 challenge
 * (RFC 6750), every failing field in a validation problem, the RateLimit
 * fields of the IETF draft, and cursor pagination of the sessions list.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { describeBackends } from '../helpers/backends.ts';
import { signUp } from '../helpers/fixtures.ts';

describeBackends('HTTP protocol', (b) => {
  let app: FastifyInstance;

  before(async () => {
    app = await b.app({ RATE_LIMIT_API_USER: '50/1m' });
  });

  it('a 401 carries WWW-Authenticate: Bearer, with error="invalid_token" for a refused token', async () => {
    const none = await app.inject('/v1/me');
    assert.equal(none.statusCode, 401);
    assert.equal(none.headers['www-authenticate'], 'Bearer');
    const forged = await app.inject({ url: '/v1/me', headers: { authorization: 'Bearer a.b.c' } });
    assert.equal(forged.statusCode, 401);
    assert.equal(forged.headers['www-authenticate'], 'Bearer error="invalid_token"');
    const login = await app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: 'nobody@example.test', password: 'not the password' },
    });
    assert.equal(login.statusCode, 401);
    assert.equal(login.headers['www-authenticate'], 'Bearer');
  });

  it('a validation problem lists every failing field', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      payload: { email: 5, password: 'short', displayName: '', extra: true },
    });
    assert.equal(res.statusCode, 400);
    const fields = (res.json().errors as { field: string }[]).map((e) => e.field);
    for (const field of ['body.email', 'body.password', 'body.displayName', 'body.extra']) {
      assert.ok(fields.includes(field), `${field} missing from ${JSON.stringify(fields)}`);
    }
  });

  it('rate-limited responses carry RateLimit and RateLimit-Policy (draft-ietf-httpapi-ratelimit-headers)', async () => {
    const u = await signUp(app);
    const first = await app.inject({ url: '/v1/me', headers: u.headers });
    assert.equal(first.headers['ratelimit-policy'], '"api_user";q=50;w=60');
    const [, r, t] = /^"api_user";r=(\d+);t=(\d+)$/.exec(String(first.headers.ratelimit)) ?? [];
    assert.equal(r, '49');
    assert.ok(Number(t) >= 1 && Number(t) <= 60, String(first.headers.ratelimit));
    assert.equal(first.headers['ratelimit-limit'], undefined, 'the old draft fields are gone');
  });

  it('GET /v1/auth/sessions pages with ?cursor=&limit= → { items, nextCursor }; a tampered cursor is 400', async () => {
    const u = await signUp(app);
    for (let i = 0; i < 4; i++) {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        remoteAddress: `10.88.0.${i + 1}`,
        payload: { email: u.email, password: u.password },
      });
      assert.equal(res.statusCode, 200, res.body);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: Record<string, string> = cursor ? { limit: '2', cursor } : { limit: '2' };
      const res = await app.inject({ url: '/v1/auth/sessions', query, headers: u.headers });
      assert.equal(res.statusCode, 200, res.body);
      const page = res.json() as { items: { id: string }[]; nextCursor: string | null };
      assert.ok(page.items.length <= 2);
      seen.push(...page.items.map((s) => s.id));
      cursor = page.nextCursor;
    } while (cursor);
    assert.equal(seen.length, 5);
    assert.equal(new Set(seen).size, 5, 'no session twice');

    const first = (await app.inject({ url: '/v1/auth/sessions?limit=1', headers: u.headers })).json();
    const valid = first.nextCursor as string;
    const tampered = `${valid.slice(0, -2)}${valid.endsWith('AA') ? 'BB' : 'AA'}`;
    const other = await signUp(app);
    const foreign = (await app.inject({ url: '/v1/auth/sessions?limit=1', headers: other.headers })).json();
    for (const bad of [tampered, 'not-a-cursor', foreign.nextCursor ?? 'x']) {
      const res = await app.inject({ url: '/v1/auth/sessions', query: { cursor: bad }, headers: u.headers });
      assert.equal(res.statusCode, 400, bad);
      assert.equal(res.json().code, 'CURSOR_INVALID');
    }
  });
});
