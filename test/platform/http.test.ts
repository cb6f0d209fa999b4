/**
 * The HTTP shell on both backends: health, problem+json, security headers
 * (RELIABILITY C4–C6), bad input (D1–D6, D14–D16), CORS, request ids,
 * metrics and docs. A probe plugin adds an echo route and two failing
 * routes, registered through buildApp's `plugins` option.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { before, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { Type } from 'typebox';
import { describeBackends } from '../helpers/backends.ts';
import { insertUser, listen, type SignedUp, signUp } from '../helpers/fixtures.ts';
import { counterValue } from '../helpers/process.ts';

async function probeRoutes(app: FastifyInstance): Promise<void> {
  app.post(
    '/probe/echo',
    {
      schema: {
        body: Type.Object(
          { name: Type.String({ minLength: 1, maxLength: 64 }), count: Type.Optional(Type.Integer()) },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => request.body,
  );
  app.get('/probe/boom', async () => {
    throw new Error('select password_hash from users where id = 1 at /srv/parley/src/secret.ts:12');
  });
  app.get('/probe/bad-sql', async () => sql`select * from no_such_table`.execute(app.sql.primary.db));
}

function assertSecurityHeaders(res: LightMyRequestResponse, label: string): void {
  const h = res.headers;
  assert.match(String(h['strict-transport-security']), /max-age=31536000; includeSubDomains/, label);
  assert.equal(h['x-content-type-options'], 'nosniff', label);
  const csp = String(h['content-security-policy']);
  for (const directive of ["frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"]) {
    assert.ok(csp.includes(directive), `${label}: CSP lacks ${directive}`);
  }
  assert.equal(h['referrer-policy'], 'no-referrer', label);
  assert.equal(h['x-frame-options'], 'DENY', label);
  assert.equal(h['x-powered-by'], undefined, label);
  assert.equal(h['cache-control'], 'no-store', label);
  assert.match(
    String(h['x-request-id']),
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    label,
  );
}

function assertProblem(res: LightMyRequestResponse, status: number, code: string): Record<string, unknown> {
  assert.equal(res.statusCode, status, res.body);
  assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
  const body = res.json() as Record<string, unknown>;
  assert.equal(body.code, code);
  assert.equal(body.status, status);
  assert.equal(body.type, `urn:parley:error:${code}`);
  return body;
}

/**
 * Sends raw bytes on a fresh TCP connection; resolves with everything received until the server
 * closes, and how many of the chunks were written before that.
 */
function rawExchange(port: number, chunks: string[], { gapMs = 0, maxMs = 10_000 } = {}) {
  return new Promise<{ data: string; closedAfterMs: number; written: number }>((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let written = 0;
    const deadline = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connection still open after ${maxMs} ms; got ${JSON.stringify(data)}`));
    }, maxMs);
    socket.on('data', (d) => {
      data += d.toString('latin1');
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(deadline);
      resolve({ data, closedAfterMs: Date.now() - started, written });
    });
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) return;
        socket.write(chunk);
        written += 1;
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

describeBackends('http platform', (b) => {
  let app: FastifyInstance;
  let me: SignedUp;
  const allowed = 'https://app.example.com';

  before(async () => {
    app = await b.app({ CORS_ORIGINS: allowed }, { plugins: [probeRoutes] });
    me = await signUp(app);
  });

  /** POSTs raw bytes to the echo route as application/json. */
  const postRaw = (payload?: string | Buffer) =>
    app.inject({
      method: 'POST',
      url: '/probe/echo',
      headers: { 'content-type': 'application/json' },
      payload,
    });

  it('GET /health/live answers ok', async () => {
    const res = await app.inject('/health/live');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ok' });
  });

  it('GET /health/ready reports per-dependency status', async () => {
    const res = await app.inject('/health/ready');
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.checks.database.status, 'up');
    assert.equal(typeof body.checks.database.latencyMs, 'number');
    if (b.backend === 'embedded') {
      assert.equal(body.status, 'degraded');
      assert.deepEqual(body.checks.redis, { status: 'absent', reason: 'redis not configured' });
      assert.deepEqual(body.checks.realtime, { status: 'absent', reason: 'in-memory adapter' });
    } else {
      assert.equal(body.status, 'ok');
      assert.equal(body.checks.redis.status, 'up');
      assert.deepEqual(body.checks.realtime, { status: 'up' });
    }
  });

  it('serves a public profile (with presence) by primary key, 404 for unknown ids, 400 for malformed ids', async () => {
    const { id, created_at: now } = await insertUser(b.sql().db, {
      display_name: 'Zoë 🚀',
      password_hash: 'x',
    });
    const res = await app.inject({ url: `/v1/users/${id}`, headers: me.headers });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(res.json(), {
      id,
      displayName: 'Zoë 🚀',
      avatarUrl: null,
      createdAt: new Date(now).toISOString(),
      presence: { status: 'offline', lastSeenAt: null },
    });
    assert.ok(!res.body.includes('email') && !res.body.includes('password'), 'public fields only');
    assertSecurityHeaders(res, '200');
    assertProblem(
      await app.inject({ url: `/v1/users/${randomUUID()}`, headers: me.headers }),
      404,
      'USER_NOT_FOUND',
    );
    const bad = assertProblem(
      await app.inject({ url: "/v1/users/1' OR '1'='1", headers: me.headers }),
      400,
      'VALIDATION_FAILED',
    );
    assert.equal((bad.errors as { field: string }[])[0]?.field, 'params.id');
  });

  it('answers unknown routes with a 404 problem carrying the request id', async () => {
    const res = await app.inject('/nope?token=secret');
    const body = assertProblem(res, 404, 'NOT_FOUND');
    assert.equal(body.instance, '/nope', 'the query string is not echoed');
    assert.equal(body.requestId, res.headers['x-request-id']);
    assertSecurityHeaders(res, '404');
  });

  it('keeps a well-formed client request id and replaces a hostile one', async () => {
    const mine = 'client-req-0001';
    assert.equal(
      (await app.inject({ url: '/health/live', headers: { 'x-request-id': mine } })).headers['x-request-id'],
      mine,
    );
    const hostile = await app.inject({
      url: '/health/live',
      headers: { 'x-request-id': `x${'a'.repeat(100)}` },
    });
    assert.match(String(hostile.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  it('validates bodies: wrong types, unknown fields and no coercion → 400 listing the fields', async () => {
    const post = (payload: unknown) =>
      app.inject({ method: 'POST', url: '/probe/echo', payload: payload as object });
    assert.equal((await post({ name: 'ok', count: 3 })).statusCode, 200);
    const wrongType = assertProblem(await post({ name: 123 }), 400, 'VALIDATION_FAILED');
    assert.deepEqual(wrongType.errors, [{ field: 'body.name', message: 'must be string' }]);
    const unknown = assertProblem(await post({ name: 'a', role: 'admin' }), 400, 'VALIDATION_FAILED');
    assert.equal((unknown.errors as { field: string }[])[0]?.field, 'body.role');
    assertProblem(await post({ name: 'a', count: '3' }), 400, 'VALIDATION_FAILED');
    assertProblem(await post({ name: ['a'] }), 400, 'VALIDATION_FAILED');
    assertProblem(await post({ name: { $gt: '' } }), 400, 'VALIDATION_FAILED');
    assertProblem(await post({ name: 'x'.repeat(65) }), 400, 'VALIDATION_FAILED');
  });

  it('D1: malformed JSON of every kind → 400 MALFORMED_BODY', async () => {
    const bodies: (string | Buffer)[] = [
      '{"name": "a"',
      '{"name": "a",}',
      "{'name': 'a'}",
      'NaN',
      Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      `\uFEFF{"name":"a"}`,
    ];
    for (const payload of bodies) {
      const res = await postRaw(payload);
      assertProblem(res, 400, 'MALFORMED_BODY');
      assertSecurityHeaders(res, '400');
    }
  });

  it('D2: an empty application/json body → 400', async () => {
    const res = await postRaw();
    assertProblem(res, 400, 'MALFORMED_BODY');
  });

  it('D3: a body over the limit → 413, including a long chunked stream the server stops reading', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(1_048_577) });
    const res = await postRaw(big);
    assertProblem(res, 413, 'PAYLOAD_TOO_LARGE');
    assertSecurityHeaders(res, '413');

    const server = await b.app({ LOG_LEVEL: 'silent' });
    const port = await listen(server);
    const answered413 = async () =>
      counterValue((await server.inject('/metrics')).body, 'parley_http_request_duration_seconds_count', {
        status_code: '413',
      });
    const rssBefore = process.memoryUsage().rss;
    const chunk = `100000\r\n${'a'.repeat(0x100000)}\r\n`; // 1 MiB chunks
    const head =
      'POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
    const chunks = [head, ...Array.from({ length: 200 }, () => chunk)]; // 200 MiB offered over ≥ 1 s
    const { data, written } = await rawExchange(port, chunks, { gapMs: 5 });
    assert.ok(written < chunks.length, `the server read all ${written} chunks instead of cutting the stream`);
    // The 413 is written before the close, but a client still sending gets a reset that can discard
    // it from its own receive buffer (TCP), so what the client received may be empty: the server's
    // own record of the response is the check, and whatever did arrive must be that 413.
    assert.equal(await answered413(), 1, 'the server answered the stream with one 413');
    assert.match(data, /^(HTTP\/1\.1 413 |$)/);
    assert.ok(process.memoryUsage().rss - rssBefore < 20 * 1_048_576, 'RSS stays flat');
  });

  it('D4: any media type other than application/json → 415', async () => {
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/json-patch+json',
      undefined,
    ]) {
      const res = await app.inject({
        method: 'POST',
        url: '/probe/echo',
        headers: type ? { 'content-type': type } : {},
        payload: '{"name":"a"}',
      });
      assertProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('D5: Content-Length mismatches and CL+TE smuggling never yield a second request', async () => {
    const server = await b.app({ REQUEST_TIMEOUT: '2s' });
    const port = await listen(server);
    const smuggled = 'GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n';
    const both = await rawExchange(port, [
      `POST /probe/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    ]);
    assert.match(both.data, /^HTTP\/1\.1 400 /);
    assert.equal(both.data.match(/HTTP\/1\.1/g)?.length, 1, 'exactly one response');
    const dup = await rawExchange(port, [
      'POST /probe/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 12\r\nContent-Length: 13\r\n\r\n{"name":"a"}',
    ]);
    assert.match(dup.data, /^HTTP\/1\.1 400 /);
    const short = await rawExchange(
      port,
      [
        'POST /probe/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":"a"}',
      ],
      { maxMs: 25_000 },
    );
    assert.doesNotMatch(short.data, /HTTP\/1\.1 200/, 'a short body is never processed');
    assert.match(short.data, /^HTTP\/1\.1 408 /, 'the request timeout answers, then closes');
    // A contract bound, not a speed figure: the 2 s request timeout, checked by Node every 1 s, closes the
    // connection after 2–3 s; 3× that is still far below "never" (rawExchange gives up at 25 s).
    assert.ok(short.closedAfterMs < 9000, `closed after ${short.closedAfterMs} ms`);
  });

  it('D6: prototype pollution payloads → 400 and no pollution', async () => {
    for (const payload of [
      '{"name":"a","__proto__":{"isAdmin":true}}',
      '{"name":"a","constructor":{"prototype":{"isAdmin":true}}}',
    ]) {
      const res = await postRaw(payload);
      assertProblem(res, 400, 'MALFORMED_BODY');
    }
    assert.equal(({} as { isAdmin?: boolean }).isAdmin, undefined);
  });

  it('D14: TRACE, PUT and DELETE on a read-only route → 405 with Allow, no handler; an unknown path → 404; an unknown verb is refused by the parser', async () => {
    for (const method of ['TRACE', 'PUT', 'DELETE'] as const) {
      const res = await app.inject({ method, url: '/health/live' });
      assertProblem(res, 405, 'METHOD_NOT_ALLOWED');
      assert.equal(res.headers.allow, 'GET, HEAD', method);
      assertSecurityHeaders(res, method);
    }
    const withParams = await app.inject({ method: 'PUT', url: `/v1/auth/sessions/${randomUUID()}` });
    assertProblem(withParams, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(withParams.headers.allow, 'DELETE');
    assertProblem(await app.inject({ method: 'PUT', url: '/health/nowhere' }), 404, 'NOT_FOUND');
    const server = await b.app();
    const port = await listen(server);
    const { data } = await rawExchange(port, ['FROB /health/live HTTP/1.1\r\nHost: x\r\n\r\n']);
    assert.match(data, /^HTTP\/1\.1 400 /);
  });

  it('D15: a slow client sending headers a byte at a time is cut off by the request timeout', async () => {
    const server = await b.app({ REQUEST_TIMEOUT: '2s' });
    const port = await listen(server);
    const bytes =
      'GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n'.split(
        '',
      );
    const { data, closedAfterMs, written } = await rawExchange(port, bytes, { gapMs: 250, maxMs: 25_000 });
    // The client needs 22 s to send its headers; the server must have hung up long before it was done.
    assert.ok(written < bytes.length, `the client sent all ${written} bytes: nothing cut it off`);
    assert.match(data, /^(HTTP\/1\.1 408 |$)/, 'anything sent back is the request timeout');
    // Not earlier than the 2 s timeout (so it is that timeout that fired), and a contract bound above:
    // Node checks expired connections every 1 s, so the close comes after 2–3 s; 3× that (9 s) still
    // fails a server without the timeout, which keeps reading for the client's whole 22 s.
    assert.ok(closedAfterMs >= 1900 && closedAfterMs < 9000, `closed after ${closedAfterMs} ms`);
  });

  it('D16: a 500 says nothing about internals but carries a correlation id', async () => {
    for (const url of ['/probe/boom', '/probe/bad-sql']) {
      const res = await app.inject(url);
      const body = assertProblem(res, 500, 'INTERNAL');
      assert.deepEqual(Object.keys(body).sort(), [
        'code',
        'instance',
        'requestId',
        'status',
        'title',
        'type',
      ]);
      assert.doesNotMatch(res.body, /select|password|no_such_table|\/srv|\.ts:|at /i);
      assertSecurityHeaders(res, '500');
    }
    assert.equal((await app.inject('/health/live')).statusCode, 200, 'still healthy');
  });

  it('C2: CORS answers only the exact allow-listed origin', async () => {
    const preflight = (origin: string) =>
      app.inject({
        method: 'OPTIONS',
        url: '/v1/users/x',
        headers: { origin, 'access-control-request-method': 'GET' },
      });
    const ok = await preflight(allowed);
    assert.equal(ok.headers['access-control-allow-origin'], allowed);
    assert.equal(ok.headers['access-control-allow-credentials'], 'true');
    for (const origin of ['https://evil.test', 'null', `${allowed}.evil.test`]) {
      const res = await preflight(origin);
      assert.equal(res.headers['access-control-allow-origin'], undefined, origin);
      const simple = await app.inject({ url: '/health/live', headers: { origin } });
      assert.equal(simple.headers['access-control-allow-origin'], undefined, origin);
    }
    const simple = await app.inject({ url: '/health/live', headers: { origin: allowed } });
    assert.equal(simple.headers['access-control-allow-origin'], allowed);
    assert.match(String(simple.headers.vary), /Origin/);
  });

  it('C2: without CORS_ORIGINS, no origin gets CORS headers and a preflight is a plain 405', async () => {
    const closed = await b.app({ CORS_ORIGINS: '' });
    const preflight = await closed.inject({
      method: 'OPTIONS',
      url: '/v1/users/x',
      headers: { origin: allowed, 'access-control-request-method': 'GET' },
    });
    // No CORS route answers OPTIONS: the path exists with other methods, so 405 with Allow.
    assertProblem(preflight, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(preflight.headers.allow, 'GET, HEAD');
    assertSecurityHeaders(preflight, 'preflight');
    const simple = await closed.inject({ url: '/health/live', headers: { origin: allowed } });
    assert.equal(simple.statusCode, 200);
    for (const res of [preflight, simple]) {
      assert.deepEqual(
        Object.keys(res.headers).filter((h) => h.startsWith('access-control-')),
        [],
        'no CORS header',
      );
    }
  });

  it('exposes Prometheus metrics by route template', async () => {
    await app.inject({ url: `/v1/users/${randomUUID()}`, headers: me.headers });
    const res = await app.inject('/metrics');
    assert.equal(res.statusCode, 200);
    assert.match(
      res.body,
      /parley_http_request_duration_seconds_count\{method="GET",route="\/v1\/users\/:id",status_code="404"\} \d+/,
    );
    assert.match(res.body, /process_cpu_user_seconds_total/);
    assert.match(res.body, new RegExp(`parley_redis_available ${b.backend === 'services' ? 1 : 0}`));
  });

  it('serves the OpenAPI document and UI at /docs', async () => {
    const spec = (await app.inject('/docs/json')).json();
    assert.equal(spec.openapi, '3.1.0');
    assert.equal(typeof spec.paths['/v1/users/{id}']?.get, 'object', 'GET /v1/users/{id} documented');
    assert.equal(typeof spec.paths['/health/ready']?.get, 'object', 'GET /health/ready documented');
    const ui = await app.inject('/docs/');
    assert.equal(ui.statusCode, 200);
    assert.match(String(ui.headers['content-type']), /text\/html/);
  });
});
