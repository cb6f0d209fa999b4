/**
 * The yardsticks, with logging off:
 * - `GET /ping`: a bare Fastify route answering a small JSON object. Every
 *   Parley figure is printed as a ratio to this, measured in the same run.
 * - `GET /me`: the minimal hand-written authenticated read, the reference of
 *   the headline /v1/me scenario. Per request, exactly: fast-jwt verify (same
 *   algorithm, key, issuer, audience, type and required claims as Parley, with
 *   fast-jwt's own verified-token cache), then `EXISTS <session key>` (is the
 *   session live?) and `GET <account key>` (the account's JSON), and nothing
 *   else: no rate limiting, SQL fallback, revocation semantics, metrics,
 *   request ids or security headers. It shows what those cost on Parley's
 *   /v1/me.
 * - `GET /me-headers`: the same, answering with the response fields Parley's
 *   /v1/me carries (security headers, `x-request-id`, `RateLimit` and
 *   `RateLimit-Policy`) and nothing more: what the required fields alone cost
 *   the server and the client.
 *
 *   How the two commands travel (BASELINE_ME_REDIS):
 *   - `auto` (default): the two commands are issued together on a client with
 *     `enableAutoPipelining` (Parley batches its own per turn instead), so they leave
 *     in one write with the commands of every other request of the same
 *     event-loop turn: one round trip per request, shared writes and reads.
 *   - `pipeline`: one explicit ioredis pipeline `EXISTS` + `GET` per request
 *     (one write and one round trip per request, nothing shared).
 *
 * Needs JWT_SECRET, REDIS_URL, BASELINE_SESSION_KEY and BASELINE_ACCOUNT_KEY
 * (`<sid>` / `<sub>` are replaced by the token's session id / subject).
 */
import { randomUUID } from 'node:crypto';
import { createVerifier } from 'fast-jwt';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { SECURITY_HEADERS } from '../src/http/security.ts';

const app = Fastify({ logger: false });
app.get('/ping', async () => ({ status: 'ok' }));

const { JWT_SECRET, REDIS_URL, BASELINE_SESSION_KEY, BASELINE_ACCOUNT_KEY } = process.env;
const MODE = process.env.BASELINE_ME_REDIS === 'pipeline' ? 'pipeline' : 'auto';
if (JWT_SECRET && REDIS_URL && BASELINE_SESSION_KEY && BASELINE_ACCOUNT_KEY) {
  const verify = createVerifier({
    key: JWT_SECRET,
    algorithms: ['HS256'],
    allowedIss: 'parley',
    allowedAud: 'parley-api',
    requiredClaims: ['exp', 'iat', 'sub', 'sid', 'jti'],
    checkTyp: 'at+jwt',
    cache: 10_000,
  }) as (token: string) => { sid: string; sub: string };
  const redis = new Redis(REDIS_URL, { enableAutoPipelining: MODE === 'auto' });
  const [sessionHead, sessionTail] = BASELINE_SESSION_KEY.split('<sid>') as [string, string];
  const [accountHead, accountTail] = BASELINE_ACCOUNT_KEY.split('<sub>') as [string, string];
  const read = async (sid: string, sub: string): Promise<[number, string | null]> => {
    const sessionKey = sessionHead + sid + sessionTail;
    const accountKey = accountHead + sub + accountTail;
    if (MODE === 'auto') return Promise.all([redis.exists(sessionKey), redis.get(accountKey)]);
    const replies = (await redis.pipeline().exists(sessionKey).get(accountKey).exec()) ?? [];
    for (const [err] of replies) if (err) throw err;
    return [replies[0]?.[1] as number, replies[1]?.[1] as string | null];
  };
  const me = (withParleyFields: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
    let claims: { sid: string; sub: string };
    try {
      claims = verify((request.headers.authorization ?? '').slice('Bearer '.length));
    } catch {
      return reply.code(401).send({ status: 401 });
    }
    const [live, account] = await read(claims.sid, claims.sub);
    if (live !== 1 || account === null) return reply.code(401).send({ status: 401 });
    if (withParleyFields) {
      reply.headers(SECURITY_HEADERS);
      reply.header('x-request-id', randomUUID());
      reply.header('ratelimit-policy', '"api_user";q=600;w=60');
      reply.header('ratelimit', `"api_user";r=${599 - (Date.now() % 600)};t=60`);
    }
    // The stored JSON is the answer: no parse and re-serialise.
    return reply.type('application/json; charset=utf-8').send(account);
  };
  app.get('/me', me(false));
  app.get('/me-headers', me(true));
  app.addHook('onClose', async () => redis.disconnect());
}

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.send?.('ready');
// A normal exit on SIGTERM, so `--cpu-prof` (BENCH_CPU_PROF) writes its profile.
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
