/**
 * Access tokens signed with an asymmetric key (JWT_PRIVATE_KEY, see
 * src/modules/auth/signing-key.ts): an Ed25519 PEM signs EdDSA tokens, an RSA
 * PEM RS256 ones. The keys are generated here with node:crypto. For each:
 * register, login and refresh work and /v1/me accepts the tokens; the header
 * names the algorithm; and a token the server did not sign — with another key
 * of the same type, HMAC-keyed with the public key (algorithm confusion,
 * RELIABILITY B1), or with the run's shared HS256 secret — is refused.
 */
import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { createSigner } from 'fast-jwt';
import type { FastifyInstance } from 'fastify';
import { describeBackends, TEST_JWT_SECRET } from '../../helpers/backends.ts';
import { type SignedUp, signUp } from '../../helpers/fixtures.ts';

type KeyType = 'ed25519' | 'rsa';

/** A fresh private key as a PKCS#8 PEM, the form JWT_PRIVATE_KEY takes. */
function privatePem(type: KeyType): string {
  const { privateKey } =
    type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
  return privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
}

const part = (token: string, index: 0 | 1) =>
  JSON.parse(Buffer.from(token.split('.')[index] as string, 'base64url').toString()) as Record<
    string,
    unknown
  >;
const encode = (obj: object) => Buffer.from(JSON.stringify(obj)).toString('base64url');

describeBackends('access tokens signed with JWT_PRIVATE_KEY', (b) => {
  for (const [type, alg] of [
    ['ed25519', 'EdDSA'],
    ['rsa', 'RS256'],
  ] as const) {
    describe(`${alg} (${type} PEM)`, () => {
      const pem = privatePem(type);
      let app: FastifyInstance;
      let u: SignedUp;
      before(async () => {
        // JWT_SECRET: undefined drops the services backend's shared HS256 secret: the key alone signs.
        app = await b.app({ JWT_PRIVATE_KEY: pem, JWT_SECRET: undefined });
        u = await signUp(app);
      });

      const me = (token: string) =>
        app.inject({ url: '/v1/me', headers: { authorization: `Bearer ${token}` } });
      const refused = async (token: string, label: string) => {
        const res = await me(token);
        assert.equal(res.statusCode, 401, label);
        assert.equal(res.json().code, 'AUTH_UNAUTHENTICATED', label);
      };
      /** Claims of a live session of `u`, signed by the caller (fresh jti each time). */
      const claims = () => {
        const { sub, sid } = part(u.accessToken, 1);
        return { sub, sid, jti: randomUUID() };
      };
      const signWith = (key: string) =>
        createSigner({
          key,
          algorithm: alg,
          iss: 'parley',
          aud: 'parley-api',
          expiresIn: 60_000,
          header: { typ: 'at+jwt', alg },
        })(claims());

      it(`registers, logs in and refreshes; /v1/me accepts the tokens; their header says ${alg}`, async () => {
        const login = await app.inject({
          method: 'POST',
          url: '/v1/auth/login',
          payload: { email: u.email, password: u.password },
        });
        assert.equal(login.statusCode, 200, login.body);
        const refreshed = await app.inject({
          method: 'POST',
          url: '/v1/auth/refresh',
          payload: { refreshToken: login.json().refreshToken },
        });
        assert.equal(refreshed.statusCode, 200, refreshed.body);
        for (const [label, token] of [
          ['register', u.accessToken],
          ['login', login.json().accessToken],
          ['refresh', refreshed.json().accessToken],
        ] as const) {
          assert.deepEqual(part(token, 0), { alg, typ: 'at+jwt' }, label);
          const res = await me(token);
          assert.equal(res.statusCode, 200, `${label}: ${res.body}`);
          assert.equal(res.json().email, u.email, label);
        }
      });

      it('accepts a token the test signs with the same key (so the refusals below are about the key)', async () => {
        assert.equal((await me(signWith(pem))).statusCode, 200);
      });

      it(`refuses a ${alg} token signed with another ${type} key`, async () => {
        await refused(signWith(privatePem(type)), 'another key');
      });

      it('refuses HS256 keyed with the public key (algorithm confusion) and with the shared JWT secret', async () => {
        const publicPem = createPublicKey(pem).export({ format: 'pem', type: 'spki' }) as string;
        const now = Math.floor(Date.now() / 1000);
        const hs256 = (secret: string) => {
          const unsigned = `${encode({ alg: 'HS256', typ: 'at+jwt' })}.${encode({
            ...claims(),
            iss: 'parley',
            aud: 'parley-api',
            iat: now,
            exp: now + 60,
          })}`;
          return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
        };
        await refused(hs256(publicPem), 'HS256 with the public key');
        await refused(hs256(TEST_JWT_SECRET), 'HS256 with the run’s JWT_SECRET');
      });
    });
  }

  it('reads a PEM given on one line with \\n escapes (as in an env file) as the same key', async () => {
    const pem = privatePem('ed25519');
    const multiLine = await b.app({ JWT_PRIVATE_KEY: pem, JWT_SECRET: undefined });
    const oneLine = await b.app({
      JWT_PRIVATE_KEY: pem.trim().replaceAll('\n', '\\n'),
      JWT_SECRET: undefined,
    });
    const u = await signUp(oneLine);
    const res = await multiLine.inject({ url: '/v1/me', headers: u.headers });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(part(u.accessToken, 0).alg, 'EdDSA');
  });
});
