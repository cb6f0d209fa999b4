/**
 * Text a person typed and links they give, through the API on both backends
 * (RELIABILITY D10; SPEC §5): display names on sign-up and PATCH /v1/me follow
 * the text policy, are stored NFC and come back byte-exact; avatar URLs are
 * https without user-info.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { describeBackends } from '../helpers/backends.ts';
import { type SignedUp, signUp } from '../helpers/fixtures.ts';

describeBackends('profile input', (b) => {
  let app: FastifyInstance;
  let me: SignedUp;
  let addresses = 0;

  before(async () => {
    app = await b.app();
    me = await signUp(app);
  });

  const register = (displayName: string) => {
    addresses += 1;
    return app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      remoteAddress: `192.0.2.${addresses}`,
      payload: {
        email: `d10-${addresses}-${Date.now()}@example.test`,
        password: 'correct horse battery',
        displayName,
      },
    });
  };
  const patchMe = (payload: object) =>
    app.inject({ method: 'PATCH', url: '/v1/me', headers: me.headers, payload });
  const storedName = async (id: string) =>
    (
      await b
        .sql()
        .db.selectFrom('users')
        .select('display_name')
        .where('id', '=', id)
        .executeTakeFirstOrThrow()
    ).display_name;
  const assertRefused = (res: { statusCode: number; json(): unknown }, field: string) => {
    assert.equal(res.statusCode, 400);
    const body = res.json() as { code: string; errors: { field: string }[] };
    assert.equal(body.code, 'VALIDATION_FAILED');
    assert.ok(body.errors.length > 0 && body.errors.every((e) => e.field === field), JSON.stringify(body));
  };

  const hostile = [
    'a\u0000b',
    'evil\u202egnp.exe',
    'a\u0085b',
    '\u200d',
    '\u200b\u2060',
    '   ',
    'x'.repeat(65),
  ];

  it('D10: sign-up refuses NUL, lone surrogates, C1 and bidi controls, blank and zero-width-only names; no row left', async () => {
    const before = await b
      .sql()
      .db.selectFrom('users')
      .select((e) => e.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    for (const name of hostile) assertRefused(await register(name), 'body.displayName');
    // A lone surrogate cannot even be decoded into a string (json-body.ts).
    assert.equal((await register('a\ud800')).json().code, 'MALFORMED_BODY');
    const after = await b
      .sql()
      .db.selectFrom('users')
      .select((e) => e.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    assert.equal(Number(after.n), Number(before.n));
  });

  it('D10: PATCH /v1/me refuses the same names and leaves the profile as it was', async () => {
    for (const name of hostile) assertRefused(await patchMe({ displayName: name }), 'body.displayName');
    assert.equal(await storedName(me.userId), 'Tester');
  });

  it('D10: 64 emoji (128 UTF-16 units) round-trip byte-exact; 65 code points do not fit', async () => {
    const emoji = `${'🚀'.repeat(63)}👩🏽`;
    assert.equal([...emoji].length, 65);
    assertRefused(await patchMe({ displayName: emoji }), 'body.displayName');
    const fits = '😀'.repeat(64);
    const res = await patchMe({ displayName: fits });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().displayName, fits);
    assert.ok(
      Buffer.from(res.body).includes(Buffer.from(fits, 'utf8')),
      'raw UTF-8 in the body, not escaped',
    );
    assert.equal(await storedName(me.userId), fits);
    const profile = await app.inject({ url: `/v1/users/${me.userId}`, headers: me.headers });
    assert.equal(profile.json().displayName, fits);
  });

  it('D10: combining marks are stored NFC, markup is returned as typed (JSON, not HTML-escaped)', async () => {
    const res = await register('  Zoe\u0308 <b>&amp;</b> ');
    assert.equal(res.statusCode, 201, res.body);
    const { user } = res.json() as { user: { id: string; displayName: string } };
    // NFC, otherwise exactly as typed (spaces too: RELIABILITY D9, read back byte-identical).
    assert.equal(user.displayName, '  Zo\u00eb <b>&amp;</b> ');
    assert.equal(await storedName(user.id), '  Zo\u00eb <b>&amp;</b> ');
  });

  it('avatarUrl: https only, no user-info, a real URL; stored as parsed; null clears it', async () => {
    for (const avatarUrl of [
      'http://cdn.example.com/a.png',
      'https://user:pass@cdn.example.com/a.png',
      'https://user@cdn.example.com/a.png',
      'javascript:alert(1)',
      'https://',
      'https://cdn.example.com/a\n.png',
      ' https://cdn.example.com/a.png',
      `https://cdn.example.com/${'a'.repeat(2100)}`,
    ]) {
      assertRefused(await patchMe({ avatarUrl }), 'body.avatarUrl');
    }
    const ok = await patchMe({ avatarUrl: 'https://CDN.example.com/ä.png' });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.json().avatarUrl, 'https://cdn.example.com/%C3%A4.png');
    assert.equal((await patchMe({ avatarUrl: null })).json().avatarUrl, null);
  });
});
