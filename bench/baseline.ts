/**
 * The yardsticks, with logging off:
 * - `GET /ping`: a bare Fastify route answering a small JSON object. Every
 *   Parley figure is printed as a ratio to this, measured in the same run.
 * - `GET /me`: the minimal hand-written authenticated read — fast-jwt verify
 *   (same key and claim checks as Parley) plus one ioredis GET of a session
 *   record holding the account — with none of Parley's rate limiting, SQL
 *   fallback, revocation semantics, metrics or security headers. It shows what
 *   those cost on Parley's /v1/me. Needs JWT_SECRET, REDIS_URL and
 *   BASELINE_SESSION_KEY (`<sid>` is replaced by the token's session id).
 */
import { createVerifier } from 'fast-jwt';
import Fastify from 'fastify';
import { Redis } from 'ioredis';

const app = Fastify({ logger: false });
app.get('/ping', async () => ({ status: 'ok' }));

const { JWT_SECRET, REDIS_URL, BASELINE_SESSION_KEY } = process.env;
if (JWT_SECRET && REDIS_URL && BASELINE_SESSION_KEY) {
  const verify = createVerifier({
    key: JWT_SECRET,
    algorithms: ['HS256'],
    allowedIss: 'parley',
    allowedAud: 'parley-api',
    cache: 10_000,
  }) as (token: string) => { sid: string };
  const redis = new Redis(REDIS_URL);
  app.get('/me', async (request, reply) => {
    let sid: string;
    try {
      sid = verify((request.headers.authorization ?? '').slice('Bearer '.length)).sid;
    } catch {
      return reply.code(401).send({ status: 401 });
    }
    const account = await redis.get(BASELINE_SESSION_KEY.replace('<sid>', sid));
    return account ? JSON.parse(account) : reply.code(401).send({ status: 401 });
  });
  app.addHook('onClose', async () => redis.disconnect());
}

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.send?.('ready');
