/**
 * The Socket.IO gateway on one instance, both backends, with the real
 * socket.io-client: the handshake (E1, E2/B17), frames (E3), malformed input
 * (E4), floods (E6), revocation (E7), token expiry (E8), presence and shutdown.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { WebSocket } from 'ws';
import { CLOCK_TOLERANCE_MS } from '../../src/modules/auth/tokens.ts';
import { describeBackends } from '../helpers/backends.ts';
import { listen, signUp } from '../helpers/fixtures.ts';
import {
  type ConnectOptions,
  client,
  closeSockets,
  connected,
  disconnected,
  nextEvent,
  refused,
  request,
} from '../helpers/sockets.ts';
import { waitFor } from '../helpers/wait.ts';

const ORIGIN = 'https://app.example.test';

describeBackends('real-time gateway', (b) => {
  let app: FastifyInstance;
  let port: number;
  before(async () => {
    app = await b.app({ CORS_ORIGINS: ORIGIN });
    port = await listen(app);
  });
  after(closeSockets);

  async function sockets(): Promise<number> {
    const metrics = await app.inject({ url: '/metrics' });
    return Number(/^parley_ws_connected_sockets (\d+)/m.exec(metrics.body)?.[1]);
  }

  it('E1: refuses a foreign Origin; accepts a listed one and none (non-browser clients)', async () => {
    const u = await signUp(app);
    await refused(client(port, { token: u.accessToken, origin: 'https://evil.example' }));
    await connected(client(port, { token: u.accessToken, origin: ORIGIN }));
    await connected(client(port, { token: u.accessToken }));
  });

  it('E2/B17: no token, a garbage token, a revoked session or a token in the query string get connect_error with a code', async () => {
    const u = await signUp(app);
    const before = await sockets();
    const attempts: ConnectOptions[] = [
      {},
      { token: 'not-a-jwt' },
      { token: u.accessToken, query: { token: u.accessToken } },
      { query: { access_token: u.accessToken } },
    ];
    for (const options of attempts) {
      const err = await refused(client(port, options));
      assert.equal(err.data?.code, 'AUTH_UNAUTHENTICATED', JSON.stringify(options));
    }
    const revoked = await signUp(app);
    await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: revoked.headers });
    assert.equal(
      (await refused(client(port, { token: revoked.accessToken }))).data?.code,
      'AUTH_UNAUTHENTICATED',
    );
    assert.equal(await sockets(), before, 'no socket joined');
  });

  it('E3: a frame over 64 KiB closes the connection; the server stays healthy', async () => {
    const u = await signUp(app);
    for (const payload of ['x'.repeat(64 * 1024 + 1), Buffer.alloc(10 * 1024 * 1024)]) {
      const s = await connected(client(port, { token: u.accessToken }));
      const gone = disconnected(s);
      s.emit('heartbeat', payload);
      assert.equal(await gone, 'transport close');
    }
    const s = await connected(client(port, { token: u.accessToken }));
    assert.deepEqual(await request(s, 'heartbeat'), { ok: true, data: null });
  });

  it('E4: unknown, numeric and __proto__ event names and wrong payloads get error acks; raw garbage closes only its connection', async () => {
    const u = await signUp(app);
    const s = await connected(client(port, { token: u.accessToken }));
    assert.equal((await request(s, 'room:join', { id: 1 })).error?.code, 'REALTIME_EVENT_UNKNOWN');
    assert.equal((await request(s, '__proto__', {})).error?.code, 'REALTIME_EVENT_UNKNOWN');
    assert.equal((await request(s, 'constructor', {})).error?.code, 'REALTIME_EVENT_UNKNOWN');
    assert.equal((await request(s, 'heartbeat', 'text')).error?.code, 'VALIDATION_FAILED');
    assert.equal((await request(s, 'heartbeat', { extra: 1 })).error?.code, 'VALIDATION_FAILED');
    assert.equal((await request(s, 'heartbeat', {}, {})).error?.code, 'VALIDATION_FAILED');
    assert.equal((await request(s, 'auth:refresh', { token: 42 })).error?.code, 'VALIDATION_FAILED');

    // Raw Engine.IO/Socket.IO packets the client library would never send.
    for (const garbage of ['42/v1,[42,{}]', '42/v1,{"bad json', '9', '4', Buffer.from([0xff, 0x00, 0x13])]) {
      const raw = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
      await new Promise((resolve) => raw.once('message', resolve)); // Engine.IO open
      raw.send(`40/v1,${JSON.stringify({ token: u.accessToken })}`);
      await new Promise((resolve) => raw.once('message', resolve)); // namespace connect
      raw.send(garbage);
      raw.send('42/v1,1["heartbeat",{}]');
      const outcome = await new Promise<string>((resolve) => {
        raw.once('close', () => resolve('closed'));
        raw.on('message', (m) => String(m).startsWith('43/v1,1') && resolve(String(m)));
      });
      raw.terminate();
      assert.ok(outcome === 'closed' || outcome.includes('"ok"'), `${String(garbage)}: ${outcome}`);
    }
    assert.deepEqual(await request(s, 'heartbeat'), { ok: true, data: null }, 'other sockets unaffected');
  });

  it('E6: over ws_message_user the ack is RATE_LIMITED with retryAfterMs; a socket that keeps flooding is disconnected', async () => {
    const u = await signUp(app);
    const bystander = await connected(client(port, { token: (await signUp(app)).accessToken }));
    const s = await connected(client(port, { token: u.accessToken }));
    const gone = disconnected(s);
    const burst = (n: number) =>
      Promise.all(Array.from({ length: n }, () => request(s, 'heartbeat').catch(() => undefined)));
    const allowed = await burst(30);
    assert.ok(
      allowed.every((r) => r?.ok),
      'the policy allows 30 per 10 s',
    );
    const limited = (await burst(25)).filter((r) => r?.error?.code === 'RATE_LIMITED');
    assert.equal(limited.length, 20, 'refused until the 20th refusal, then cut off');
    assert.ok(limited.every((r) => (r?.error?.retryAfterMs ?? 0) > 0));
    assert.equal(await gone, 'io server disconnect', 'cut off after 20 refusals');
    assert.deepEqual(await request(bystander, 'heartbeat'), { ok: true, data: null }, 'others unaffected');
  });

  it('E7: logout, logout-all and password change disconnect the sessions’ sockets within 1 s; reconnecting is refused', async () => {
    const u = await signUp(app);
    const s = await connected(client(port, { token: u.accessToken }));
    const gone = disconnected(s);
    const started = performance.now();
    await app.inject({ method: 'POST', url: '/v1/auth/logout-all', headers: u.headers });
    assert.equal(await gone, 'io server disconnect');
    // SPEC §6 bound (1 s); in-process it takes a few ms, so this is far from flaky.
    assert.ok(performance.now() - started < 1000);
    assert.equal((await refused(client(port, { token: u.accessToken }))).data?.code, 'AUTH_UNAUTHENTICATED');

    const v = await signUp(app);
    const other = await connected(client(port, { token: v.accessToken }));
    const otherGone = disconnected(other);
    const login = await app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: v.email, password: v.password },
    });
    const second = login.json().accessToken as string;
    const kept = await connected(client(port, { token: second }));
    const res = await app.inject({
      method: 'POST',
      url: '/v1/auth/password',
      headers: { authorization: `Bearer ${second}` },
      payload: { currentPassword: v.password, newPassword: 'another fine passphrase 9' },
    });
    assert.equal(res.statusCode, 204, res.body);
    assert.equal(await otherGone, 'io server disconnect', 'the other session is cut off');
    assert.deepEqual(await request(kept, 'heartbeat'), { ok: true, data: null }, 'the current session stays');
  });

  it('presence: one online transition for two tabs; GET /v1/presence and the online list see it; offline persists lastSeenAt', async () => {
    const u = await signUp(app);
    const changes: { status: string }[] = [];
    const tab1 = client(port, { token: u.accessToken });
    tab1.on('presence:changed', (e: { type: string; data: { status: string }; at: string }) => {
      assert.equal(e.type, 'presence:changed');
      assert.ok(!Number.isNaN(Date.parse(e.at)));
      changes.push(e.data);
    });
    await connected(tab1);
    await waitFor(() => changes.length === 1, { what: 'online transition' });
    const tab2 = await connected(client(port, { token: u.accessToken }));
    await request(tab2, 'heartbeat');
    await request(tab1, 'heartbeat');
    assert.deepEqual(changes, [{ userId: u.userId, status: 'online', lastSeenAt: null }]);

    const presence = await app.inject({ url: `/v1/presence?ids=${u.userId}`, headers: u.headers });
    assert.deepEqual(presence.json(), { items: [{ userId: u.userId, status: 'online', lastSeenAt: null }] });
    const online = await app.inject({ url: '/v1/presence/online?limit=100', headers: u.headers });
    assert.ok(online.json().count >= 1);
    assert.ok((online.json().items as { userId: string }[]).some((i) => i.userId === u.userId));

    tab2.disconnect();
    await request(tab1, 'heartbeat');
    assert.equal(changes.length, 1, 'closing one tab is no transition');
    tab1.disconnect();
    const offline = await waitFor(
      async () => {
        const r = await app.inject({ url: `/v1/presence?ids=${u.userId}`, headers: u.headers });
        const item = r.json().items[0];
        return item.status === 'offline' && item;
      },
      { what: 'offline' },
    );
    assert.ok(offline.lastSeenAt);
    const saved = await waitFor(
      async () =>
        (
          await b
            .sql()
            .db.selectFrom('users')
            .select('last_seen_at')
            .where('id', '=', u.userId)
            .executeTakeFirstOrThrow()
        ).last_seen_at,
      { timeoutMs: 15_000, what: 'last_seen_at in SQL' },
    );
    assert.equal(new Date(Number(saved)).toISOString(), offline.lastSeenAt);
  });

  it('GET /v1/users/:id: the public profile with presence — offline and never seen, online while a socket is connected, offline with lastSeenAt after', async () => {
    const viewer = await signUp(app);
    const u = await signUp(app, 'Seen');
    const profile = async () => {
      const res = await app.inject({ url: `/v1/users/${u.userId}`, headers: viewer.headers });
      assert.equal(res.statusCode, 200, res.body);
      return res.json() as {
        id: string;
        displayName: string;
        presence: { status: string; lastSeenAt: string | null };
      };
    };
    const never = await profile();
    assert.equal(never.displayName, 'Seen');
    assert.deepEqual(never.presence, { status: 'offline', lastSeenAt: null });

    const s = await connected(client(port, { token: u.accessToken }));
    await waitFor(async () => (await profile()).presence.status === 'online', { what: 'online' });
    assert.deepEqual((await profile()).presence, { status: 'online', lastSeenAt: null });

    s.disconnect();
    await waitFor(async () => (await profile()).presence.status === 'offline', { what: 'offline' });
    const offline = (await profile()).presence;
    assert.ok(offline.lastSeenAt !== null && !Number.isNaN(Date.parse(offline.lastSeenAt)));
    const listed = await app.inject({ url: `/v1/presence?ids=${u.userId}`, headers: viewer.headers });
    assert.equal(listed.json().items[0].lastSeenAt, offline.lastSeenAt, 'the same as GET /v1/presence');
    // Once written to SQL (and the never-seen answer cached above invalidated), the same time.
    await app.presence.flush();
    assert.deepEqual((await profile()).presence, offline);
  });

  it('the per-address socket cap counts the client address TRUST_PROXY yields, as HTTP does', async () => {
    const behindProxy = await b.app({ TRUST_PROXY: 'loopback', WS_MAX_SOCKETS_PER_IP: '1' });
    const proxiedPort = await listen(behindProxy);
    const from = (ip: string) => ({ headers: { 'x-forwarded-for': ip } });
    const u = await signUp(behindProxy);
    await connected(client(proxiedPort, { token: u.accessToken, ...from('203.0.113.7') }));
    await connected(client(proxiedPort, { token: u.accessToken, ...from('203.0.113.8') }));
    const same = await refused(client(proxiedPort, { token: u.accessToken, ...from('203.0.113.7') }));
    assert.equal(same.data?.code, 'REALTIME_TOO_MANY_SOCKETS');
    const garbage = await refused(client(proxiedPort, { token: u.accessToken, ...from('not-an-address') }));
    assert.equal(garbage.data?.code, 'BAD_REQUEST', 'as HTTP refuses a forwarded address that is no IP');

    // Without TRUST_PROXY the header is the client's own say: ignored, the peer address counts.
    const direct = await b.app({ WS_MAX_SOCKETS_PER_IP: '1' });
    const directPort = await listen(direct);
    const v = await signUp(direct);
    await connected(client(directPort, { token: v.accessToken, ...from('203.0.113.7') }));
    const second = await refused(client(directPort, { token: v.accessToken, ...from('203.0.113.8') }));
    assert.equal(second.data?.code, 'REALTIME_TOO_MANY_SOCKETS');
  });

  it('refuses more than 100 ids and a forged cursor', async () => {
    const u = await signUp(app);
    const ids = Array.from({ length: 101 }, () => u.userId).join(',');
    assert.equal((await app.inject({ url: `/v1/presence?ids=${ids}`, headers: u.headers })).statusCode, 400);
    const forged = await app.inject({ url: '/v1/presence/online?cursor=abc', headers: u.headers });
    assert.equal(forged.json().code, 'CURSOR_INVALID');
  });

  it('E8: a socket is cut off at its token expiry unless auth:refresh moved it; an expired token is refused', async () => {
    // 5 s: sign-up, two handshakes and a refresh must fit before the expiry on a loaded machine.
    const short = await b.app({ ACCESS_TOKEN_TTL: '5s' });
    const shortPort = await listen(short);
    const u = await signUp(short);
    const expiring = await connected(client(shortPort, { token: u.accessToken }));
    const refreshed = await connected(client(shortPort, { token: u.accessToken }));
    const expired = nextEvent(expiring, 'auth:expired');
    const gone = disconnected(expiring);
    const exp =
      JSON.parse(Buffer.from(u.accessToken.split('.')[1] as string, 'base64url').toString()).exp * 1000;

    // Token times are whole seconds: refresh in the second after the first's `iat`, so the new expiry is
    // later while the first token (expiring at iat + 2 s) is still valid. Waiting a fixed 1.2 s instead
    // could pass the first token's expiry (issued at x.9 s, it expires 1.1 s later) and lose the ack.
    const iat = exp / 1000 - 2;
    await waitFor(() => Math.floor(Date.now() / 1000) > iat, { what: 'a later second' });
    const rotated = await short.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      payload: { refreshToken: u.refreshToken },
    });
    const next = rotated.json().accessToken as string;
    const ack = await request(refreshed, 'auth:refresh', { token: next });
    assert.equal(ack.ok, true, JSON.stringify(ack));

    const other = await signUp(short);
    assert.equal(
      (await request(refreshed, 'auth:refresh', { token: other.accessToken })).error?.code,
      'AUTH_UNAUTHENTICATED',
      'a token of another session is refused',
    );

    await expired;
    assert.equal(await gone, 'io server disconnect');
    assert.ok(Date.now() >= exp, 'not before its expiry');
    assert.deepEqual(
      await request(refreshed, 'heartbeat'),
      { ok: true, data: null },
      'the refreshed one stays',
    );

    await waitFor(() => Date.now() > exp + CLOCK_TOLERANCE_MS, {
      timeoutMs: 10_000,
      what: 'past the leeway',
    });
    assert.equal(
      (await refused(client(shortPort, { token: u.accessToken }))).data?.code,
      'AUTH_UNAUTHENTICATED',
    );
  });

  it('on close, sockets are dropped with a transport close (clients reconnect elsewhere) and presence is left to expire', async () => {
    const other = await b.app({ CORS_ORIGINS: ORIGIN });
    const otherPort = await listen(other);
    const u = await signUp(other);
    const s = await connected(client(otherPort, { token: u.accessToken }));
    const notice = nextEvent<{ data: { reason: string } }>(s, 'server:shutdown');
    const gone = disconnected(s);
    await other.close();
    assert.equal((await notice).data.reason, 'server shutting down');
    assert.equal(await gone, 'transport close');
    if (b.backend === 'services') {
      const presence = await app.inject({ url: `/v1/presence?ids=${u.userId}`, headers: u.headers });
      assert.equal(presence.json().items[0].status, 'online', 'still online until the TTL runs out');
    }
  });
});
