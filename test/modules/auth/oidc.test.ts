/**
 * OIDC sign-in end to end against a real OpenID Provider on loopback
 * (authorization code + PKCE + state + nonce), on both backends.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { describeBackends } from '../../helpers/backends.ts';
import { signUp } from '../../helpers/fixtures.ts';
import { signInThroughBrowser, startProvider, type TestProvider } from '../../helpers/oidc-provider.ts';
import { freePort } from '../../helpers/wait.ts';

describeBackends('OIDC sign-in', (b) => {
  let provider: TestProvider;
  let app: FastifyInstance;
  let base: string;

  before(async () => {
    const [appPort, providerPort] = [await freePort(), await freePort()];
    base = `http://127.0.0.1:${appPort}`;
    provider = await startProvider(providerPort, `${base}/v1/auth/oidc/local/callback`);
    app = await b.app({
      PORT: String(appPort),
      PUBLIC_URL: base,
      OIDC_PROVIDERS: 'local',
      OIDC_LOCAL_ISSUER: provider.issuer,
      OIDC_LOCAL_CLIENT_ID: provider.clientId,
      OIDC_LOCAL_CLIENT_SECRET: provider.clientSecret,
    });
    await app.listen({ port: appPort, host: '127.0.0.1' });
  });
  after(() => provider.close());

  const signIn = (login: string) =>
    signInThroughBrowser(`${base}/v1/auth/oidc/local/start`, `${base}/v1/auth/oidc/local/callback`, login);

  it('creates an account on first sign-in and returns Parley tokens', async () => {
    const email = `${randomUUID()}@example.test`;
    const res = await signIn(email);
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      user: { id: string; email: string };
      accessToken: string;
      refreshToken: string;
    };
    assert.equal(body.user.email, email);
    assert.ok(body.accessToken && body.refreshToken);
    const me = await app.inject({ url: '/v1/me', headers: { authorization: `Bearer ${body.accessToken}` } });
    assert.equal(me.json().email, email);
    const identity = await b
      .sql()
      .db.selectFrom('identities')
      .selectAll()
      .where('user_id', '=', body.user.id)
      .execute();
    assert.deepEqual(
      identity.map((i) => [i.provider, i.subject]),
      [['local', email]],
    );
    const again = (await (await signIn(email)).json()) as { user: { id: string } };
    assert.equal(again.user.id, body.user.id, 'the identity signs the same user in next time');
  });

  it('links a verified email to the existing password account', async () => {
    const u = await signUp(app);
    const body = (await (await signIn(u.email)).json()) as { user: { id: string } };
    assert.equal(body.user.id, u.userId);
  });

  it('D10: an NFD email from the provider reaches the NFC password account (one normalisation) @see #9', async () => {
    // "bücher" with a precomposed ü (NFC) for the password account, decomposed (u + U+0308, NFD) at the provider.
    const local = randomUUID().slice(0, 8);
    const nfc = `${local}@b\u00fccher.example`;
    const nfd = `${local}@bu\u0308cher.example`;
    const registered = await app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      payload: { email: nfc, password: 'correct horse battery staple', displayName: 'Nfc' },
    });
    assert.equal(registered.statusCode, 201, registered.body);
    const userId = (registered.json() as { user: { id: string } }).user.id;
    const res = await signIn(nfd);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { user: { id: string } };
    assert.equal(body.user.id, userId, 'one account, whichever way the provider spells it');
    const emails = await b
      .sql()
      .db.selectFrom('users')
      .select('email')
      .where('email', 'like', `${local}@%`)
      .execute();
    assert.equal(emails.length, 1);
  });

  it('never lets an unverified email take over an existing account', async () => {
    const u = await signUp(app);
    const local = u.email.replace(/^/, 'unverified-');
    await b.sql().db.updateTable('users').set({ email: local }).where('id', '=', u.userId).execute();
    const res = await signIn(local);
    assert.equal(res.status, 409);
    assert.equal(((await res.json()) as { code: string }).code, 'AUTH_OIDC_EMAIL_UNVERIFIED');
  });

  it('refuses a replayed or forged callback, and unknown providers', async () => {
    const replay = await fetch(`${base}/v1/auth/oidc/local/callback?code=abc&state=${randomUUID()}`);
    assert.equal(replay.status, 400);
    assert.equal(((await replay.json()) as { code: string }).code, 'AUTH_OIDC_FLOW_INVALID');
    const unknown = await fetch(`${base}/v1/auth/oidc/nope/start`, { redirect: 'manual' });
    assert.equal(unknown.status, 404);
    const start = await fetch(`${base}/v1/auth/oidc/local/start`, { redirect: 'manual' });
    const authorize = new URL(start.headers.get('location') as string);
    assert.equal(authorize.origin, provider.issuer);
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    for (const p of ['state', 'nonce', 'code_challenge']) assert.ok(authorize.searchParams.get(p), p);
  });
});
