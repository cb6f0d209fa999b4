/**
 * Fastify plugin `rate-limit`: the limiter for the configured policies — Redis
 * (with per-policy fallback) in services mode, memory in embedded mode.
 * Decorates `app.rateLimiter`; the HTTP hook and services consume from it.
 */
import fp from 'fastify-plugin';
import type { Config, RateLimitPolicy } from '../../config.ts';
import { BoundCounter } from '../metrics.ts';
import type { RateLimitDecision, RateLimiter } from './limiter.ts';
import { MemoryRateLimiter } from './memory.ts';
import { RedisRateLimiter } from './redis.ts';

declare module 'fastify' {
  interface FastifyInstance {
    rateLimiter: RateLimiter;
  }
}

export default fp<{ policies: Config['rateLimits'] }>(
  async (app, { policies: configured }) => {
    const policies = configured as Readonly<Record<string, RateLimitPolicy>>;
    const { health, keys, turn } = app.redis;
    const insurance = new MemoryRateLimiter(policies);
    const limiter: RateLimiter = turn
      ? new RedisRateLimiter({
          turn,
          health,
          policies,
          counterKey: keys.rateLimit,
          insurance,
          log: app.log.child({ layer: 'rate-limit' }),
        })
      : insurance;

    const decisions = new BoundCounter({
      name: 'parley_rate_limit_decisions_total',
      help: 'Rate-limit decisions by policy and result (allowed, rejected), and whether a Redis fallback decided',
      labelNames: ['policy', 'result', 'degraded'],
      registers: [app.metrics.registry],
    });
    const counted: RateLimiter = {
      consume: (policy, subject, points) =>
        limiter.consume(policy, subject, points).then((d: RateLimitDecision) => {
          decisions.series(policy, d.allowed ? 'allowed' : 'rejected', d.degraded ? 'true' : 'false').inc();
          return d;
        }),
      refund: (policy, subject, points) => limiter.refund(policy, subject, points),
      reset: (policy, subject) => limiter.reset(policy, subject),
    };
    app.decorate('rateLimiter', counted);
  },
  { name: 'rate-limit', dependencies: ['redis', 'metrics'] },
);
