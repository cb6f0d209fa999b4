/**
 * Redis RateLimiter: counts are shared and exact across instances (one atomic
 * Lua INCR+PEXPIRE per consume). While the shared Redis circuit is open, or
 * when a call fails, each policy's `whenRedisDown` decides: `insurance`
 * consumes from a per-instance memory limiter (so N instances admit at most N×
 * the limit, never unlimited), `open` allows, `closed` refuses with 503.
 */
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimitPolicy } from '../../config.ts';
import { AppError } from '../../errors.ts';
import type { RedisClient } from '../redis/client.ts';
import type { RedisHealth } from '../redis/health.ts';
import { decision, type RateLimitDecision, type RateLimiter, UnknownPolicyError } from './limiter.ts';
import type { MemoryRateLimiter } from './memory.ts';
import { RateLimitErrors } from './rate-limit.errors.ts';

export interface RedisRateLimiterDeps {
  client: RedisClient;
  health: RedisHealth;
  policies: Readonly<Record<string, RateLimitPolicy>>;
  keyPrefix: (policy: string) => string;
  insurance: MemoryRateLimiter;
  log: { warn(obj: object, msg: string): void };
}

export class RedisRateLimiter implements RateLimiter {
  readonly #deps: RedisRateLimiterDeps;
  readonly #limiters = new Map<string, RateLimiterRedis>();

  constructor(deps: RedisRateLimiterDeps) {
    this.#deps = deps;
    for (const [name, p] of Object.entries(deps.policies)) {
      this.#limiters.set(
        name,
        new RateLimiterRedis({
          storeClient: deps.client,
          keyPrefix: deps.keyPrefix(name),
          points: p.points,
          duration: p.durationMs / 1000,
          rejectIfRedisNotReady: true,
        }),
      );
    }
  }

  async consume(policy: string, subject: string, points = 1): Promise<RateLimitDecision> {
    const limiter = this.#limiter(policy);
    const settings = this.#deps.policies[policy] as RateLimitPolicy;
    const { health } = this.#deps;
    if (health.available) {
      try {
        const res = await health.run(() => limiter.consume(subject, points));
        return decision(settings, res.consumedPoints, res.msBeforeNext);
      } catch (outcome) {
        // rate-limiter-flexible rejects with a RateLimiterRes when over the limit: a decision, not a failure.
        if (outcome instanceof RateLimiterRes)
          return decision(settings, outcome.consumedPoints, outcome.msBeforeNext);
        this.#deps.log.warn(
          { layer: 'rate-limit', policy, err: (outcome as Error).message },
          'redis limiter failed',
        );
      }
    }
    return this.#whenRedisDown(policy, settings, subject, points);
  }

  async refund(policy: string, subject: string, points = 1): Promise<void> {
    const limiter = this.#limiter(policy);
    await this.#bestEffort(() => limiter.reward(subject, points));
    await this.#deps.insurance.refund(policy, subject, points);
  }

  async reset(policy: string, subject: string): Promise<void> {
    const limiter = this.#limiter(policy);
    await this.#bestEffort(() => limiter.delete(subject));
    await this.#deps.insurance.reset(policy, subject);
  }

  #whenRedisDown(
    policy: string,
    settings: RateLimitPolicy,
    subject: string,
    points: number,
  ): Promise<RateLimitDecision> {
    switch (settings.whenRedisDown) {
      case 'insurance':
        return this.#deps.insurance.consume(policy, subject, points, true);
      case 'open':
        return Promise.resolve({
          ...decision(settings, 0, settings.durationMs, true),
          remaining: settings.points,
        });
      case 'closed':
        throw new AppError(RateLimitErrors.RATE_LIMIT_UNAVAILABLE, undefined, {
          headers: { 'retry-after': '5' },
        });
    }
  }

  async #bestEffort(op: () => Promise<unknown>): Promise<void> {
    if (!this.#deps.health.available) return;
    await this.#deps.health.run(op).catch(() => {});
  }

  #limiter(policy: string): RateLimiterRedis {
    const limiter = this.#limiters.get(policy);
    if (!limiter) throw new UnknownPolicyError(policy);
    return limiter;
  }
}
