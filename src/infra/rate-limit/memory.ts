/**
 * In-process RateLimiter: exact within one instance. It is the embedded mode's
 * limiter and the `insurance` fallback of the Redis adapter while Redis is down.
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimitPolicy } from '../../config.ts';
import { decision, type RateLimitDecision, type RateLimiter, UnknownPolicyError } from './limiter.ts';

export class MemoryRateLimiter implements RateLimiter {
  readonly #policies: Readonly<Record<string, RateLimitPolicy>>;
  readonly #limiters = new Map<string, RateLimiterMemory>();

  constructor(policies: Readonly<Record<string, RateLimitPolicy>>) {
    this.#policies = policies;
    for (const [name, p] of Object.entries(policies)) {
      this.#limiters.set(name, new RateLimiterMemory({ points: p.points, duration: p.durationMs / 1000 }));
    }
  }

  async consume(policy: string, subject: string, points = 1, degraded = false): Promise<RateLimitDecision> {
    const limiter = this.#limiter(policy);
    const settings = this.#policies[policy] as RateLimitPolicy;
    try {
      const res = await limiter.consume(subject, points);
      return decision(policy, settings, res.consumedPoints, res.msBeforeNext, degraded);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      return decision(policy, settings, rejection.consumedPoints, rejection.msBeforeNext, degraded);
    }
  }

  /**
   * Never gives back more than the subject holds: as the Redis adapter's insurance
   * this is refunded for points Redis counted, and a credit below zero would let
   * a later outage admit more than the limit.
   */
  async refund(policy: string, subject: string, points = 1): Promise<void> {
    const limiter = this.#limiter(policy);
    const held = (await limiter.get(subject))?.consumedPoints ?? 0;
    if (held > 0) await limiter.reward(subject, Math.min(points, held));
  }

  async reset(policy: string, subject: string): Promise<void> {
    await this.#limiter(policy).delete(subject);
  }

  #limiter(policy: string): RateLimiterMemory {
    const limiter = this.#limiters.get(policy);
    if (!limiter) throw new UnknownPolicyError(policy);
    return limiter;
  }
}
