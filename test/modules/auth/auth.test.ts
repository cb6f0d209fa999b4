/**
 * Accounts, sessions and tokens on both backends (RELIABILITY A1, A3–A7, A9,
 * A18, B1–B11, B15–B17, D7–D11 on the auth routes), through the HTTP API.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { hash } from '@node-rs/argon2';
import { createSigner } from 'fast-jwt';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { describeBackends } from '../../helpers/backends.ts';
import { type SignedUp, signUp } from '../../helpers/fixtures.ts';
import { RedisServer } from '../../helpers/redis-server.ts';
import { waitFor } from '../../helpers/wait.ts';

const SECRET = randomBytes(32).toString('base64url');
const COMMON = [
  'password',
  '12345678',
  'qwertyuiop',
  'iloveyou',
  'sunshine',
  'princess',
  'football',
  'baseball',
];

let ipCounter = 0;
const freshIp = () => `172.16.${Math.floor(++ipCounter / 250)}.${(ipCounter % 250) + 1}`;

describeBackends('auth', (b) => {
  let app: FastifyInstance;
  // A second instance on the same database and Redis. Embedded mode is one instance by design
  // (its speed layer is in-process), so there "every instance" is just the one.
  let other: FastifyInstance;

  before(async () => {
    app = await b.app({ JWT_SECRET: SECRET });
    other = b.backend === 'services' ? await b.app({ JWT_SECRET: SECRET }) : app;
  });

  const post = (
    url: string,
    payload: object,
    extra: { ip?: string; token?: string; on?: FastifyInstance } = {},
  ) =>
    (extra.on ?? app).inject({
      method: 'POST',
      url,
      payload,
      remoteAddress: extra.ip ?? freshIp(),
      headers: extra.token ? { authorization: `Bearer ${extra.token}` } : {},
    });
  const register = (email: string, password: string, displayName = 'Someone') =>
    post('/v1/auth/register', { email, password, displayName });
  const login = (email: string, password: string, ip?: string, on = app) =>
    post('/v1/auth/login', { email, password }, { ip, on });
  const refresh = (refreshToken: string, on = app) =>
    on.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      payload: { refreshToken },
      remoteAddress: freshIp(),
    });
  const me = (token: string, on = app) =>
    on.inject({ url: '/v1/me', headers: { authorization: `Bearer ${token}` } });
  const email = () => `${randomUUID()}@example.test`;
  const userRow = (id: string) =>
    b.sql().db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const counts = async () => {
    const db = b.sql().db;
    const [users, sessions] = await Promise.all([
      db.selectFrom('users').select(db.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
      db.selectFrom('sessions').select(db.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { users: Number(users.n), sessions: Number(sessions.n) };
  };

  describe('registration and passwords', () => {
    it('registers, normalises the email, and answers with the user and both tokens', async () => {
      const address = email();
      const res = await register(`  ${address.toUpperCase()} `, 'correct horse battery staple', 'Zoë');
      assert.equal(res.statusCode, 201);
      const body = res.json();
      assert.equal(body.user.email, address);
      assert.equal(body.user.displayName, 'Zoë');
      assert.equal(body.user.role, 'user');
      assert.equal(body.expiresIn, 900);
      assert.match(body.accessToken, /^[\w-]+\.[\w-]+\.[\w-]+$/);
      assert.match(body.refreshToken, /^[\w-]{43}$/, '256 bits, base64url');
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.equal((await me(body.accessToken)).json().email, address);
      const dup = await register(address.toUpperCase(), 'another long passphrase');
      assert.equal(dup.statusCode, 409);
      assert.equal(dup.json().code, 'AUTH_EMAIL_TAKEN');
    });

    it('A1: argon2id with OWASP parameters and a unique salt per hash', async () => {
      const [x, y] = [await signUp(app), await signUp(app)];
      const hashes = await Promise.all([userRow(x.userId), userRow(y.userId)]);
      for (const { password_hash } of hashes) {
        assert.match(password_hash ?? '', /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22,}\$/);
      }
      assert.notEqual(hashes[0].password_hash, hashes[1].password_hash);
    });

    it('A4: enforces 8–128 characters (code points, in the schema), accepts spaces, emoji and CJK', async () => {
      const weak = await register(email(), 'seven77');
      assert.equal(weak.statusCode, 400);
      assert.deepEqual(
        weak.json().errors.map((e: { field: string }) => e.field),
        ['body.password'],
      );
      assert.equal((await register(email(), 'eight888')).statusCode, 201);
      assert.equal((await register(email(), 'x'.repeat(128))).statusCode, 201);
      assert.equal(
        (await register(email(), '🔐'.repeat(128))).statusCode,
        201,
        '128 code points, 256 UTF-16 units',
      );
      assert.equal((await register(email(), 'x'.repeat(129))).json().code, 'VALIDATION_FAILED');
      assert.equal((await register(email(), 'x'.repeat(1025))).json().code, 'VALIDATION_FAILED');
      assert.equal((await register(email(), 'with\u0000nul1')).json().code, 'AUTH_WEAK_PASSWORD');
      for (const password of ['🔐🔑🗝️🔒 emoji', '    spaces  only  ', '長い日本語のパスワードです']) {
        const address = email();
        assert.equal((await register(address, password)).statusCode, 201, password);
        assert.equal((await login(address, password)).statusCode, 200, password);
      }
    });

    it('A5: no truncation or transformation of the password', async () => {
      const address = email();
      const password = `${'Tr0ub4dor&3-'.repeat(8)}abcd`; // 100 characters
      assert.equal((await register(address, password)).statusCode, 201);
      for (const attempt of [password.slice(0, -1), password.toUpperCase(), `${password}x`]) {
        assert.equal((await login(address, attempt)).statusCode, 401);
      }
      assert.equal((await login(address, password)).statusCode, 200);
    });

    it('A6: refuses common passwords with a generic policy message', async () => {
      for (const password of COMMON) {
        const res = await register(email(), password);
        assert.equal(res.statusCode, 400, password);
        assert.equal(res.json().code, 'AUTH_WEAK_PASSWORD');
        assert.match(res.json().detail, /too common/);
      }
    });

    it('A3: upgrades a weaker hash after a successful login, not after a failed one', async () => {
      const u = await signUp(app);
      const weak = await hash(u.password, { algorithm: 2, memoryCost: 4096, timeCost: 1, parallelism: 1 });
      await b.sql().db.updateTable('users').set({ password_hash: weak }).where('id', '=', u.userId).execute();
      assert.equal((await login(u.email, 'wrong password!')).statusCode, 401);
      assert.equal((await userRow(u.userId)).password_hash, weak);
      assert.equal((await login(u.email, u.password)).statusCode, 200);
      assert.match((await userRow(u.userId)).password_hash ?? '', /m=19456,t=2,p=1/);
    });
  });

  describe('login', () => {
    it('A7: one generic 401 for a wrong password, an unknown email and a disabled account', async () => {
      const u = await signUp(app);
      const disabled = await signUp(app);
      await b
        .sql()
        .db.updateTable('users')
        .set({ disabled_at: Date.now() })
        .where('id', '=', disabled.userId)
        .execute();
      const answers = [
        await login(u.email, 'not the password'),
        await login(email(), 'not the password'),
        await login(disabled.email, disabled.password),
      ];
      const shape = (r: LightMyRequestResponse) => {
        const { requestId: _, ...body } = r.json();
        return { status: r.statusCode, body, headers: Object.keys(r.headers).sort() };
      };
      const [first, ...rest] = answers.map(shape);
      for (const r of rest) assert.deepEqual(r, first);
      assert.equal(first?.status, 401);
      assert.equal(first?.body.code, 'AUTH_INVALID_CREDENTIALS');
    });

    it('A9: the 6th failure from one email+IP is 429 with Retry-After, even with the right password', async () => {
      const u = await signUp(app);
      const ip = freshIp();
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await login(u.email, `wrong ${i} password`, ip)).statusCode);
      assert.deepEqual(statuses, [401, 401, 401, 401, 401]);
      const blocked = await login(u.email, 'wrong again password', ip);
      assert.equal(blocked.statusCode, 429);
      assert.ok(Number(blocked.headers['retry-after']) > 0);
      assert.equal(
        (await login(u.email, u.password, ip)).statusCode,
        429,
        'still blocked with the right password',
      );
      assert.equal(
        (await login(u.email, u.password, freshIp())).statusCode,
        200,
        'another address is not blocked',
      );
    });

    it('A11: one address hammering an account far beyond its limits never locks the owner out', async () => {
      const u = await signUp(app);
      const attacker = freshIp();
      const statuses = new Map<number, number>();
      for (let i = 0; i < 150; i++) {
        const { statusCode } = await login(u.email, `guess ${i} password`, attacker);
        statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1);
      }
      assert.deepEqual(Object.fromEntries(statuses), { 401: 5, 429: 145 }, 'only 5 guesses evaluated');
      assert.equal((await login(u.email, u.password, freshIp())).statusCode, 200, 'the owner, elsewhere');
      assert.equal((await login(u.email, u.password, attacker)).statusCode, 429, 'the source stays blocked');
    });

    it('concurrent guesses from one address never overshoot the limit', async () => {
      const u = await signUp(app);
      const ip = freshIp();
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => login(u.email, `parallel ${i} guess`, ip, i % 2 ? app : other)),
      );
      const statuses = answers.map((a) => a.statusCode).sort();
      assert.deepEqual(statuses, [...Array(5).fill(401), ...Array(15).fill(429)]);
      // Refused attempts were not counted: the block ends with the window of the 5 real failures.
      assert.equal((await login(u.email, 'one more guess', ip)).statusCode, 429);
    });

    it('counts only failures: successful logins never lock the account out', async () => {
      const u = await signUp(app);
      const ip = freshIp();
      for (let i = 0; i < 8; i++) assert.equal((await login(u.email, u.password, ip)).statusCode, 200);
    });

    it('B16: each login is a new session with its own refresh token', async () => {
      const u = await signUp(app);
      const [x, y] = [(await login(u.email, u.password)).json(), (await login(u.email, u.password)).json()];
      assert.notEqual(x.refreshToken, y.refreshToken);
      const sessions = (
        await app.inject({ url: '/v1/auth/sessions', headers: { authorization: `Bearer ${x.accessToken}` } })
      ).json().items;
      assert.equal(sessions.length, 3);
    });
  });

  describe('access tokens', () => {
    let u: SignedUp;
    let claims: { sub: string; sid: string };
    before(async () => {
      u = await signUp(app);
      claims = JSON.parse(Buffer.from(u.accessToken.split('.')[1] as string, 'base64url').toString());
    });
    const sign = (
      options: object,
      payload: object = { sub: claims.sub, sid: claims.sid, jti: randomUUID() },
    ) =>
      createSigner({
        key: SECRET,
        iss: 'parley',
        aud: 'parley-api',
        expiresIn: 60_000,
        header: { typ: 'at+jwt', alg: 'HS256' },
        ...options,
      })(payload);
    const rejects = async (token: string, label: string) => {
      const res = await me(token);
      assert.equal(res.statusCode, 401, label);
      assert.equal(res.json().code, 'AUTH_UNAUTHENTICATED', label);
    };

    it('accepts its own token, on every instance', async () => {
      assert.equal((await me(u.accessToken)).statusCode, 200);
      assert.equal((await me(u.accessToken, other)).statusCode, 200);
      assert.equal((await me(sign({}))).statusCode, 200, 'the test signer matches the server');
    });

    it('B1: refuses alg none and algorithms outside the allow-list', async () => {
      const [h, p] = u.accessToken.split('.') as [string, string];
      const header = (obj: object) => Buffer.from(JSON.stringify(obj)).toString('base64url');
      await rejects(`${header({ alg: 'none', typ: 'at+jwt' })}.${p}.`, 'alg none');
      await rejects(sign({ algorithm: 'HS512', header: { typ: 'at+jwt', alg: 'HS512' } }), 'HS512');
      await rejects(`${h}.${p}.`, 'no signature');
    });

    it('B1: a verified token’s signature on another payload or header is refused (the verified-claims map keys by signature)', async () => {
      assert.equal((await me(u.accessToken)).statusCode, 200, 'the genuine token is verified and remembered');
      const [h, p, s] = u.accessToken.split('.') as [string, string, string];
      const other = (obj: object) => Buffer.from(JSON.stringify(obj)).toString('base64url');
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
      await rejects(`${h}.${other({ ...payload, sub: randomUUID() })}.${s}`, 'another subject');
      await rejects(`${h}.${other({ ...payload, exp: payload.exp + 86_400 })}.${s}`, 'a later expiry');
      await rejects(`${other({ alg: 'HS256', typ: 'at+jwt', kid: 'x' })}.${p}.${s}`, 'another header');
      assert.equal((await me(u.accessToken)).statusCode, 200, 'the genuine token still passes');
    });

    it('B2: ignores key hints in the header (jwk, jku, x5u, kid) and a foreign key', async () => {
      const attacker = randomBytes(32).toString('base64url');
      const forged = (header: object) =>
        createSigner({
          key: attacker,
          iss: 'parley',
          aud: 'parley-api',
          expiresIn: 60_000,
          header: { typ: 'at+jwt', alg: 'HS256', ...header },
        })({
          sub: claims.sub,
          sid: claims.sid,
          jti: randomUUID(),
        });
      await rejects(forged({}), 'foreign key');
      await rejects(forged({ jwk: { kty: 'oct', k: attacker } }), 'jwk');
      await rejects(forged({ jku: 'http://127.0.0.1:1/jwks' }), 'jku');
      await rejects(forged({ x5u: 'http://127.0.0.1:1/x5u' }), 'x5u');
      await rejects(forged({ kid: "../../x' OR 1=1" }), 'kid');
    });

    it('B3: refuses expired, not-yet-valid, wrong audience/issuer/type and tokens without exp or sid', async () => {
      const now = Math.floor(Date.now() / 1000);
      await rejects(
        sign(
          { expiresIn: undefined },
          { sub: claims.sub, sid: claims.sid, jti: randomUUID(), iat: now - 100, exp: now - 6 },
        ),
        'expired beyond the 5 s clock tolerance',
      );
      await rejects(sign({ notBefore: 3_600_000 }), 'nbf in the future');
      await rejects(sign({ aud: 'someone-else' }), 'audience');
      await rejects(sign({ iss: 'evil' }), 'issuer');
      await rejects(sign({ header: { typ: 'JWT', alg: 'HS256' } }), 'type');
      await rejects(sign({ expiresIn: undefined }), 'no exp');
      await rejects(sign({}, { sub: claims.sub, jti: randomUUID() }), 'no sid');
      await rejects(u.refreshToken, 'a refresh token');
    });

    it('B3: refuses a token issued in the future beyond the clock tolerance, accepts one inside it', async () => {
      const now = Math.floor(Date.now() / 1000);
      const issuedAt = (iat: number) =>
        sign(
          { expiresIn: undefined },
          { sub: claims.sub, sid: claims.sid, jti: randomUUID(), iat, exp: iat + 600 },
        );
      await rejects(issuedAt(now + 300), 'iat 5 minutes ahead');
      assert.equal((await me(issuedAt(now + 1))).statusCode, 200, 'iat 1 s ahead: within the tolerance');
    });

    it('B4: refuses a token with one byte flipped in the payload or the signature', async () => {
      const [h, p, s] = u.accessToken.split('.') as [string, string, string];
      const flip = (part: string) => `${part.slice(0, 5)}${part[5] === 'A' ? 'B' : 'A'}${part.slice(6)}`;
      await rejects(`${h}.${flip(p)}.${s}`, 'payload');
      await rejects(`${h}.${p}.${flip(s)}`, 'signature');
      await rejects(`${h}.${p}.${s}==`, 'padding');
    });

    it('B17: never reads a token from the query string', async () => {
      const res = await app.inject(`/v1/me?access_token=${u.accessToken}&token=${u.accessToken}`);
      assert.equal(res.statusCode, 401);
    });
  });

  describe('refresh and revocation', () => {
    it('B5: refresh tokens are unique, 256-bit, and only their digests are stored', async () => {
      const u = await signUp(app);
      const tokens = new Set<string>([u.refreshToken]);
      for (let i = 0; i < 20; i++) tokens.add((await login(u.email, u.password)).json().refreshToken);
      assert.equal(tokens.size, 21);
      const rows = await b
        .sql()
        .db.selectFrom('sessions')
        .selectAll()
        .where('user_id', '=', u.userId)
        .execute();
      const dump = JSON.stringify(rows);
      for (const token of tokens) assert.ok(!dump.includes(token), 'raw token in the sessions table');
      const audit = JSON.stringify(await b.sql().db.selectFrom('audit_log').selectAll().execute());
      for (const token of tokens) assert.ok(!audit.includes(token), 'raw token in the audit log');
      assert.ok(!audit.includes(u.password), 'password in the audit log');
    });

    it('B6/B7 (strict): rotation; reusing a rotated token revokes the whole session', async () => {
      const strict = await b.app({ JWT_SECRET: SECRET, REFRESH_REUSE_GRACE: '0' });
      const u = await signUp(strict);
      const r2 = (await refresh(u.refreshToken, strict)).json();
      assert.ok(r2.refreshToken && r2.refreshToken !== u.refreshToken);
      assert.equal((await me(r2.accessToken, strict)).statusCode, 200);
      const reuse = await refresh(u.refreshToken, strict);
      assert.equal(reuse.statusCode, 401);
      assert.equal(reuse.json().code, 'AUTH_REFRESH_INVALID');
      assert.equal((await refresh(r2.refreshToken, strict)).statusCode, 401, 'the successor dies too');
      assert.equal(
        (await me(r2.accessToken, strict)).statusCode,
        401,
        'and every access token of the session',
      );
      assert.equal((await me(u.accessToken, other)).statusCode, 401, 'on every instance');
      const events = await b
        .sql()
        .db.selectFrom('audit_log')
        .select('event')
        .where('user_id', '=', u.userId)
        .execute();
      assert.ok(
        events.some((e) => e.event === 'refresh_reuse'),
        'a security event is logged',
      );
    });

    it('B7: presenting a token two rotations back revokes the whole family', async () => {
      const u = await signUp(app);
      const r2 = (await refresh(u.refreshToken)).json();
      const r3 = (await refresh(r2.refreshToken, other)).json();
      assert.equal((await me(r3.accessToken, other)).statusCode, 200);
      const reuse = await refresh(u.refreshToken);
      assert.equal(reuse.statusCode, 401);
      assert.equal(reuse.json().code, 'AUTH_REFRESH_INVALID');
      assert.equal((await refresh(r3.refreshToken)).statusCode, 401, 'the current token dies too');
      for (const on of [app, other]) assert.equal((await me(r3.accessToken, on)).statusCode, 401);
      const events = await b
        .sql()
        .db.selectFrom('audit_log')
        .select('event')
        .where('user_id', '=', u.userId)
        .execute();
      assert.ok(events.some((e) => e.event === 'refresh_reuse'));
    });

    it('B7: the previous token presented after the grace window revokes the whole family', async () => {
      const u = await signUp(app);
      const r2 = (await refresh(u.refreshToken)).json();
      const r3 = (await refresh(r2.refreshToken)).json();
      // The fake clock: R2's rotation moves 10 s into the past, beyond the 5 s grace window.
      const { sid } = JSON.parse(Buffer.from(r3.accessToken.split('.')[1], 'base64url').toString());
      await b
        .sql()
        .db.updateTable('session_tokens')
        .set({ rotated_at: Date.now() - 10_000 })
        .where('session_id', '=', sid)
        .execute();
      assert.equal((await refresh(r2.refreshToken)).statusCode, 401);
      assert.equal((await refresh(r3.refreshToken)).statusCode, 401, 'the current token dies too');
      for (const on of [app, other]) assert.equal((await me(r3.accessToken, on)).statusCode, 401);
    });

    it('B8 (grace): 50 parallel refreshes of one token all get the same successor', async () => {
      const u = await signUp(app);
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) => refresh(u.refreshToken, i % 2 ? app : other)),
      );
      assert.deepEqual(new Set(answers.map((a) => a.statusCode)), new Set([200]));
      const successors = new Set(answers.map((a) => a.json().refreshToken));
      assert.equal(successors.size, 1, 'never two live successors');
      const [successor] = successors as Set<string>;
      assert.equal((await refresh(successor as string)).statusCode, 200);
    });

    it('B8 (strict): 50 parallel refreshes → exactly one 200, and the session is revoked', async () => {
      const strict = await b.app({ JWT_SECRET: SECRET, REFRESH_REUSE_GRACE: '0' });
      const u = await signUp(strict);
      const answers = await Promise.all(Array.from({ length: 50 }, () => refresh(u.refreshToken, strict)));
      const ok = answers.filter((a) => a.statusCode === 200);
      assert.equal(ok.length, 1);
      assert.equal((await refresh(ok[0]?.json().refreshToken, strict)).statusCode, 401, 'family revoked');
    });

    it('B9: an idle-expired or absolutely-expired session cannot refresh', async () => {
      for (const column of ['expires_at', 'absolute_expires_at'] as const) {
        const u = await signUp(app);
        await b
          .sql()
          .db.updateTable('sessions')
          .set({ [column]: Date.now() - 1 })
          .where('user_id', '=', u.userId)
          .execute();
        assert.equal((await refresh(u.refreshToken)).statusCode, 401, column);
      }
    });

    it('B10: after logout the access token is refused on every instance at once, and the refresh token too', async () => {
      const u = await signUp(app);
      assert.equal((await me(u.accessToken, other)).statusCode, 200); // cached as active on the way
      assert.equal((await post('/v1/auth/logout', {}, { token: u.accessToken })).statusCode, 204);
      for (let i = 0; i < 50; i++) {
        assert.equal((await me(u.accessToken, i % 2 ? app : other)).statusCode, 401);
      }
      assert.equal((await refresh(u.refreshToken)).statusCode, 401);
    });

    it('B11: a password change ends every other session on every instance; the current one continues', async () => {
      const u = await signUp(app);
      const s2 = (await login(u.email, u.password)).json();
      const s3 = (await login(u.email, u.password)).json();
      for (const t of [s2.accessToken, s3.accessToken]) assert.equal((await me(t, other)).statusCode, 200);
      const change = await post(
        '/v1/auth/password',
        { currentPassword: u.password, newPassword: 'a brand new passphrase' },
        { token: u.accessToken },
      );
      assert.equal(change.statusCode, 204);
      for (const t of [s2.accessToken, s3.accessToken]) {
        assert.equal((await me(t)).statusCode, 401);
        assert.equal((await me(t, other)).statusCode, 401);
      }
      for (const r of [s2.refreshToken, s3.refreshToken]) assert.equal((await refresh(r)).statusCode, 401);
      assert.equal((await me(u.accessToken, other)).statusCode, 200, 'the current session continues');
      assert.equal((await login(u.email, u.password)).statusCode, 401);
      assert.equal((await login(u.email, 'a brand new passphrase')).statusCode, 200);
      const wrong = await post(
        '/v1/auth/password',
        { currentPassword: 'nope nope nope', newPassword: 'whatever else 1' },
        { token: u.accessToken },
      );
      assert.equal(wrong.statusCode, 401);
    });

    it('logout-all ends every session including the current one', async () => {
      const u = await signUp(app);
      const s2 = (await login(u.email, u.password)).json();
      assert.equal((await post('/v1/auth/logout-all', {}, { token: u.accessToken })).statusCode, 204);
      for (const t of [u.accessToken, s2.accessToken]) assert.equal((await me(t, other)).statusCode, 401);
    });

    it('logout-all racing logins on two instances: no session is lost from the index', async () => {
      const u = await signUp(app);
      const db = b.sql().db;
      const liveSessions = async () =>
        (
          await db
            .selectFrom('sessions')
            .select('id')
            .where('user_id', '=', u.userId)
            .where('revoked_at', 'is', null)
            .execute()
        ).length;
      // Logins that all completed before logout-all: every one of them must end.
      const before = await Promise.all(
        Array.from({ length: 12 }, (_, i) => login(u.email, u.password, freshIp(), i % 2 ? app : other)),
      );
      assert.ok(before.every((r) => r.statusCode === 200));
      // More logins racing the logout-all itself: each may land before it (ended) or after it (live).
      const racing = Array.from({ length: 6 }, (_, i) =>
        login(u.email, u.password, freshIp(), i % 2 ? app : other),
      );
      const logoutAll = await post('/v1/auth/logout-all', {}, { token: u.accessToken, on: other });
      assert.equal(logoutAll.statusCode, 204);
      const raced = await Promise.all(racing);
      for (const r of before) {
        const { accessToken } = r.json();
        assert.equal((await me(accessToken)).statusCode, 401);
        assert.equal((await me(accessToken, other)).statusCode, 401);
      }
      // Whatever survived the race is a real, usable session, and SQL agrees with what the instances accept.
      const accepted = [];
      for (const r of raced) {
        assert.equal(r.statusCode, 200);
        const { accessToken } = r.json();
        const [onApp, onOther] = [
          (await me(accessToken)).statusCode,
          (await me(accessToken, other)).statusCode,
        ];
        assert.equal(onApp, onOther, 'both instances give the same answer');
        if (onApp === 200) accepted.push(accessToken);
      }
      assert.equal(await liveSessions(), accepted.length);
    });

    it('B15: lists my sessions and terminates one', async () => {
      const u = await signUp(app);
      const s2 = (await login(u.email, u.password)).json();
      const auth = { authorization: `Bearer ${u.accessToken}` };
      const list = (await app.inject({ url: '/v1/auth/sessions', headers: auth })).json().items;
      assert.equal(list.length, 2);
      assert.equal(list.filter((s: { current: boolean }) => s.current).length, 1);
      const target = list.find((s: { current: boolean }) => !s.current);
      assert.ok(target.ip && target.createdAt && target.lastUsedAt && target.expiresAt);
      const del = await app.inject({
        method: 'DELETE',
        url: `/v1/auth/sessions/${target.id}`,
        headers: auth,
      });
      assert.equal(del.statusCode, 204);
      assert.equal((await me(s2.accessToken, other)).statusCode, 401);
      assert.equal((await app.inject({ url: '/v1/auth/sessions', headers: auth })).json().items.length, 1);
      const again = await app.inject({
        method: 'DELETE',
        url: `/v1/auth/sessions/${target.id}`,
        headers: auth,
      });
      assert.equal(again.json().code, 'AUTH_SESSION_NOT_FOUND');
      const foreign = await signUp(app);
      const theirs = (await app.inject({ url: '/v1/auth/sessions', headers: foreign.headers })).json()
        .items[0].id;
      assert.equal(
        (await app.inject({ method: 'DELETE', url: `/v1/auth/sessions/${theirs}`, headers: auth }))
          .statusCode,
        404,
      );
    });
  });

  describe('disabling and deleting accounts', () => {
    const disable = (id: string, token: string, on = app) =>
      on.inject({
        method: 'POST',
        url: `/v1/admin/users/${id}/disable`,
        headers: { authorization: `Bearer ${token}` },
      });
    const deleteMe = (password: string, token: string) =>
      app.inject({
        method: 'DELETE',
        url: '/v1/me',
        headers: { authorization: `Bearer ${token}` },
        payload: { password },
      });

    it('B12: disable ends all sessions at once (ADMIN_USER_IDS), refresh too; a second call is a no-op', async () => {
      const boss = await signUp(app);
      const admins = await b.app({ JWT_SECRET: SECRET, ADMIN_USER_IDS: `${randomUUID()},${boss.userId}` });
      // Embedded mode is one instance (an in-process speed layer): there, every check goes to `admins`.
      const instances = b.backend === 'services' ? [admins, app, other] : [admins];
      const u = await signUp(admins);
      const s2 = (await login(u.email, u.password, undefined, admins)).json();
      for (const t of [u.accessToken, s2.accessToken]) {
        for (const on of instances) assert.equal((await me(t, on)).statusCode, 200); // cached as active
      }
      const res = await disable(u.userId, boss.accessToken, admins);
      assert.equal(res.statusCode, 204);
      for (const t of [u.accessToken, s2.accessToken]) {
        for (const on of instances) assert.equal((await me(t, on)).statusCode, 401);
      }
      for (const r of [u.refreshToken, s2.refreshToken]) {
        assert.equal((await refresh(r, admins)).statusCode, 401);
      }
      assert.equal((await login(u.email, u.password)).json().code, 'AUTH_INVALID_CREDENTIALS');
      assert.equal((await disable(u.userId, boss.accessToken, admins)).statusCode, 204, 'idempotent');
      const unknown = await disable(randomUUID(), boss.accessToken, admins);
      assert.equal(unknown.json().code, 'USER_NOT_FOUND');
    });

    it('B12: the admin role in SQL is enough; anyone else gets 403 AUTH_FORBIDDEN and nothing changes', async () => {
      const boss = await signUp(app);
      await b.sql().db.updateTable('users').set({ role: 'admin' }).where('id', '=', boss.userId).execute();
      const bossToken = (await login(boss.email, boss.password)).json().accessToken;
      const u = await signUp(app);
      const nobody = await signUp(app);
      const refused = await disable(u.userId, nobody.accessToken);
      assert.equal(refused.statusCode, 403);
      assert.equal(refused.json().code, 'AUTH_FORBIDDEN');
      assert.equal((await me(u.accessToken)).statusCode, 200);
      assert.equal((await disable(u.userId, bossToken, other)).statusCode, 204);
      assert.equal((await me(u.accessToken)).statusCode, 401);
    });

    it('DELETE /v1/me: needs the password; then every session ends and the address is free again', async () => {
      const u = await signUp(app);
      const s2 = (await login(u.email, u.password)).json();
      const wrong = await deleteMe('not my password', u.accessToken);
      assert.equal(wrong.statusCode, 401);
      assert.equal((await me(u.accessToken)).statusCode, 200);
      assert.equal((await deleteMe(u.password, u.accessToken)).statusCode, 204);
      for (const t of [u.accessToken, s2.accessToken]) {
        for (const on of [app, other]) assert.equal((await me(t, on)).statusCode, 401);
      }
      assert.equal((await refresh(s2.refreshToken)).statusCode, 401);
      const again = await login(u.email, u.password);
      assert.equal(again.statusCode, 401);
      assert.equal(again.json().code, 'AUTH_INVALID_CREDENTIALS');
      const row = await userRow(u.userId);
      assert.notEqual(row.disabled_at, null);
      assert.equal(row.password_hash, null);
      assert.ok(!row.email.includes(u.email), 'no personal data kept');
      assert.equal((await register(u.email, 'a fresh start passphrase')).statusCode, 201);
    });
  });

  describe('rate limits on authenticated and token routes', () => {
    it('limits refreshes per IP, password changes per user and API calls per user', async () => {
      const limited = await b.app({
        JWT_SECRET: SECRET,
        RATE_LIMIT_REFRESH_IP: '2/1m',
        RATE_LIMIT_PASSWORD_CHANGE_USER: '2/15m',
        RATE_LIMIT_API_USER: '4/1m',
      });
      const u = await signUp(limited);
      const refreshFrom = (token: string) =>
        limited.inject({
          method: 'POST',
          url: '/v1/auth/refresh',
          payload: { refreshToken: token },
          remoteAddress: '192.0.2.9',
        });
      const first = await refreshFrom(u.refreshToken);
      assert.equal(first.statusCode, 200);
      assert.equal((await refreshFrom(first.json().refreshToken)).statusCode, 200);
      assert.equal((await refreshFrom('x'.repeat(43))).statusCode, 429);

      const change = () =>
        limited.inject({
          method: 'POST',
          url: '/v1/auth/password',
          headers: u.headers,
          payload: { currentPassword: 'wrong current one', newPassword: 'a new long passphrase' },
        });
      assert.deepEqual(
        [(await change()).statusCode, (await change()).statusCode, (await change()).statusCode],
        [401, 401, 429],
      );

      // The password changes above spent 3 of the user's 4 API calls.
      const calls = [];
      for (let i = 0; i < 2; i++)
        calls.push((await limited.inject({ url: '/v1/me', headers: u.headers })).statusCode);
      assert.deepEqual(calls, [200, 429]);
    });
  });

  describe('API budget under a burst', () => {
    it('a burst from one account on two instances admits exactly the budget, each remaining count once', async () => {
      const env = { JWT_SECRET: SECRET, RATE_LIMIT_API_USER: '10/1m' };
      const first = await b.app(env);
      const second = b.backend === 'services' ? await b.app(env) : first;
      const u = await signUp(first); // registration is not an authenticated call: the budget is untouched
      const burst = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (i % 2 ? first : second).inject({ url: '/v1/me', headers: u.headers }),
        ),
      );
      const admitted = burst.filter((r) => r.statusCode === 200);
      assert.equal(admitted.length, 10);
      assert.ok(burst.every((r) => r.statusCode === 200 || r.statusCode === 429));
      assert.ok(
        burst.filter((r) => r.statusCode === 429).every((r) => Number(r.headers['retry-after']) >= 1),
      );
      const remaining = admitted
        .map((r) => Number(/;r=(\d+);/.exec(String(r.headers.ratelimit))?.[1]))
        .sort((x, y) => x - y);
      assert.deepEqual(remaining, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });
  });

  describe('profile and bad input', () => {
    it('PATCH /v1/me updates the profile, seen at once by GET /v1/me on every instance', async () => {
      const u = await signUp(app);
      const res = await app.inject({
        method: 'PATCH',
        url: '/v1/me',
        headers: u.headers,
        payload: { displayName: "Robert'); DROP TABLE users;--", avatarUrl: 'https://cdn.example.com/a.png' },
      });
      assert.equal(res.statusCode, 200);
      const seen = (await me(u.accessToken, other)).json();
      assert.equal(seen.displayName, "Robert'); DROP TABLE users;--", 'stored verbatim (D9)');
      assert.equal(seen.avatarUrl, 'https://cdn.example.com/a.png');
      const profile = await other.inject({ url: `/v1/users/${u.userId}`, headers: u.headers });
      assert.equal(profile.json().displayName, "Robert'); DROP TABLE users;--");
    });

    it('D7/D8/D10/D11: mass assignment, type confusion, bad unicode and oversized fields → 400, nothing stored', async () => {
      const u = await signUp(app);
      const before = await counts();
      const bodies: object[] = [
        { email: email(), password: 'long enough pass', displayName: 'x', role: 'admin' },
        { email: email(), password: 'long enough pass', displayName: 'x', id: randomUUID() },
        { email: [email()], password: 'long enough pass', displayName: 'x' },
        { email: { $gt: '' }, password: 'long enough pass', displayName: 'x' },
        { email: email(), password: 12345678, displayName: 'x' },
        { email: email(), password: 'long enough pass', displayName: 'nul\u0000here' },
        { email: email(), password: 'long enough pass', displayName: 'x'.repeat(10_000) },
        { email: `${'a'.repeat(300)}@example.test`, password: 'long enough pass', displayName: 'x' },
        { email: 'not-an-email', password: 'long enough pass', displayName: 'x' },
      ];
      for (const payload of bodies) {
        const res = await post('/v1/auth/register', payload);
        assert.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 80));
      }
      const surrogate = await app.inject({
        method: 'POST',
        url: '/v1/auth/register',
        headers: { 'content-type': 'application/json' },
        payload: `{"email":"${email()}","password":"long enough pass","displayName":"\\ud800"}`,
      });
      assert.equal(surrogate.json().code, 'MALFORMED_BODY');
      const huge = await app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ email: email(), password: 'x'.repeat(66 * 1024) }),
      });
      assert.equal(huge.statusCode, 413, 'auth routes take 16 KiB at most');
      for (const payload of [
        { role: 'admin' },
        { displayName: 'ok', email_verified: true },
        {},
        { avatarUrl: 'javascript:alert(1)' },
        { avatarUrl: 'http://plain.example.com/a.png' },
      ]) {
        const res = await app.inject({ method: 'PATCH', url: '/v1/me', headers: u.headers, payload });
        assert.equal(res.statusCode, 400, JSON.stringify(payload));
      }
      assert.deepEqual(await counts(), before);
      assert.equal((await userRow(u.userId)).role, 'user');
    });

    it('A18: the audit log records auth events with ip and user agent, and no secrets', async () => {
      const u = await signUp(app);
      await login(u.email, 'definitely wrong');
      await login(u.email, u.password);
      const rows = await b
        .sql()
        .db.selectFrom('audit_log')
        .selectAll()
        .where('user_id', '=', u.userId)
        .execute();
      const events = rows.map((r) => r.event);
      for (const e of ['register', 'login_failure', 'login_success']) assert.ok(events.includes(e), e);
      assert.ok(rows.every((r) => r.ip));
      assert.ok(!JSON.stringify(rows).includes(u.email), 'emails are hashed in audit details');
      assert.ok(!JSON.stringify(rows).includes('definitely wrong'));
    });
  });
});

describeBackends(
  'auth with Redis failing',
  (b) => {
    let redis: RedisServer;
    let app: FastifyInstance;
    let other: FastifyInstance;
    before(async () => {
      redis = await RedisServer.start();
      app = await b.app({ JWT_SECRET: SECRET, REDIS_URL: redis.url });
      other = await b.app({ JWT_SECRET: SECRET, REDIS_URL: redis.url });
    });
    after(() => redis.stop());
    const me = (token: string, on: FastifyInstance) =>
      on.inject({ url: '/v1/me', headers: { authorization: `Bearer ${token}` } });
    const logout = (token: string) =>
      app.inject({ method: 'POST', url: '/v1/auth/logout', headers: { authorization: `Bearer ${token}` } });

    it('B14: a revocation survives FLUSHALL (0 resurrected sessions)', async () => {
      const u = await signUp(app);
      assert.equal((await me(u.accessToken, other)).statusCode, 200);
      assert.equal((await logout(u.accessToken)).statusCode, 204);
      const admin = new Redis(redis.url);
      await admin.flushall();
      admin.disconnect();
      for (const on of [app, other]) assert.equal((await me(u.accessToken, on)).statusCode, 401);
    });

    it('B13: with Redis killed, logout still lands in SQL and the token is refused (0 × 200); login still works', async () => {
      const u = await signUp(app);
      assert.equal((await me(u.accessToken, other)).statusCode, 200); // cached as active in Redis
      await redis.kill();
      await waitFor(async () => (await app.inject('/health/ready')).json().status === 'degraded');
      assert.equal((await logout(u.accessToken)).statusCode, 204);
      for (const on of [app, other]) assert.equal((await me(u.accessToken, on)).statusCode, 401);
      const again = await app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { email: u.email, password: u.password },
        remoteAddress: '198.51.100.7',
      });
      assert.equal(again.statusCode, 200, 'login works on the insurance limiter');
      await redis.restart();
      await waitFor(async () => (await other.inject('/health/ready')).json().status === 'ok');
      for (const on of [app, other])
        assert.equal((await me(u.accessToken, on)).statusCode, 401, 'still revoked after recovery');
    });

    it('F4: refused attempts never credit the insurance limiter: with Redis down, one instance still admits 5', async () => {
      await waitFor(async () => (await app.inject('/health/ready')).json().status === 'ok');
      const u = await signUp(app);
      const attempt = () =>
        app.inject({
          method: 'POST',
          url: '/v1/auth/login',
          payload: { email: u.email, password: 'a wrong password' },
          remoteAddress: '198.51.100.66',
        });
      const statuses = [];
      for (let i = 0; i < 20; i++) statuses.push((await attempt()).statusCode);
      assert.deepEqual(statuses, [...Array(5).fill(401), ...Array(15).fill(429)]);
      await redis.kill();
      await waitFor(async () => (await app.inject('/health/ready')).json().status === 'degraded');
      const degraded = [];
      for (let i = 0; i < 8; i++) degraded.push((await attempt()).statusCode);
      assert.deepEqual(degraded, [...Array(5).fill(401), ...Array(3).fill(429)], '≤ 5 per instance');
      await redis.restart();
    });
  },
  { only: ['services'] },
);
