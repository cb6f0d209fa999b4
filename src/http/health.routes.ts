/**
 * Health endpoints for orchestrators.
 * - `/health/live`: the process is up and its event loop turns.
 * - `/health/ready`: `ok` (SQL and Redis fine), `degraded` (SQL fine, Redis down
 *   or not configured, an invalidation Redis refused is waiting to be
 *   replayed, or the Socket.IO adapter's Redis connections are down — still 200,
 *   the server serves from its fallbacks) or
 *   `down` (SQL unreachable — 503, take this instance out of rotation). Each
 *   dependency reports status, latency and, when not up, the reason.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';

const DEPENDENCY_TIMEOUT_MS = 2000;

const Dependency = Type.Object({
  status: Type.Union([Type.Literal('up'), Type.Literal('down'), Type.Literal('absent')]),
  latencyMs: Type.Optional(Type.Number()),
  reason: Type.Optional(Type.String()),
});

const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('down')]),
  checks: Type.Object({ database: Dependency, redis: Dependency, realtime: Dependency }),
});

type DependencyStatus = { status: 'up' | 'down' | 'absent'; latencyMs?: number; reason?: string };

async function timed(check: () => Promise<unknown>, timeoutMs: number): Promise<DependencyStatus> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { status: 'up', latencyMs: Math.round((performance.now() - started) * 100) / 100 };
  } catch (err) {
    return { status: 'down', reason: (err as Error).message || (err as { code?: string }).code || 'error' };
  } finally {
    clearTimeout(timer);
  }
}

export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  const { sql, redis, cache, realtimeAdapter } = app;

  async function redisStatus(): Promise<DependencyStatus> {
    const { health } = redis;
    if (health.state === 'absent') return { status: 'absent', reason: health.reason ?? 'not configured' };
    if (!health.available) return { status: 'down', reason: health.reason ?? health.state };
    // Redis answers but refused an invalidation (e.g. out of memory): its keys are read from SQL until replayed.
    const pending = cache.pendingInvalidations;
    if (pending > 0)
      return { status: 'down', reason: `${pending} cache invalidation(s) waiting to be replayed` };
    // A live PING through the breaker, so a paused Redis is noticed here too.
    return timed(() => health.run((client) => client.ping()), DEPENDENCY_TIMEOUT_MS);
  }

  app.get(
    '/health/live',
    {
      schema: {
        operationId: 'getLiveness',
        summary: 'Liveness: the process is up and its event loop turns',
        tags: ['operations'],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/health/ready',
    {
      schema: {
        operationId: 'getReadiness',
        summary: 'Readiness: ok or degraded (200), or down (503) with per-dependency detail',
        tags: ['operations'],
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (_request, reply) => {
      const [database, redisCheck] = await Promise.all([
        timed(() => sql.primary.ping(), DEPENDENCY_TIMEOUT_MS),
        redisStatus(),
      ]);
      // Without the adapter's Redis, events stop crossing instances: degraded, not down.
      const realtime = realtimeAdapter.status();
      const status =
        database.status !== 'up'
          ? 'down'
          : redisCheck.status === 'up' && realtime.status !== 'down'
            ? 'ok'
            : 'degraded';
      reply.status(status === 'down' ? 503 : 200);
      return { status, checks: { database, redis: redisCheck, realtime } } as const;
    },
  );
}
