/**
 * RateLimiter: counts points per (policy, subject) in fixed windows. Adapters:
 * `MemoryRateLimiter` (embedded mode, and the per-instance insurance) and
 * `RedisRateLimiter` (exact across instances: an atomic INCRBY + PTTL per
 * counter, every consume of a turn in one script call). Both pass
 * test/contracts/rate-limiter.contract.test.ts.
 */
import type { RateLimitPolicy } from '../../config.ts';
import { AppError } from '../../errors.ts';
import { RateLimitErrors } from './rate-limit.errors.ts';

export interface RateLimitDecision {
  /** The policy that decided (its name in configuration). */
  policy: string;
  allowed: boolean;
  /** The policy's points per window. */
  limit: number;
  windowMs: number;
  remaining: number;
  /** Milliseconds until the window resets (and, when refused, until a retry can succeed). */
  resetMs: number;
  /** True when Redis was unavailable and the policy's fallback decided. */
  degraded: boolean;
}

export interface RateLimiter {
  /**
   * Atomically adds `points` (default 1) to the subject's count under `policy`
   * and says whether it is still within the limit. A refused call counts too,
   * so hammering a limited subject keeps it limited.
   */
  consume(policy: string, subject: string, points?: number): Promise<RateLimitDecision>;
  /** Gives points back, e.g. a login attempt that turned out not to be a failure. */
  refund(policy: string, subject: string, points?: number): Promise<void>;
  /** Clears the subject's count, e.g. after a successful password reset. */
  reset(policy: string, subject: string): Promise<void>;
}

/** The decision a limiter library result maps to; `consumed` may exceed `points`. */
export function decision(
  name: string,
  policy: RateLimitPolicy,
  consumed: number,
  msBeforeNext: number,
  degraded = false,
): RateLimitDecision {
  return {
    policy: name,
    allowed: consumed <= policy.points,
    windowMs: policy.durationMs,
    limit: policy.points,
    remaining: Math.max(0, policy.points - consumed),
    resetMs: Math.max(0, msBeforeNext),
    degraded,
  };
}

export class UnknownPolicyError extends Error {
  constructor(policy: string) {
    super(`unknown or disabled rate-limit policy "${policy}"`);
  }
}

/**
 * The `RateLimit-Policy` and `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers
 * (-10): structured-field lists whose items name a policy, with its quota `q`
 * and window `w` (seconds), and the `r` units remaining until reset `t` (seconds).
 */
export function rateLimitHeaders(d: RateLimitDecision): Record<string, string> {
  const name = `"${d.policy}"`;
  return {
    'ratelimit-policy': `${name};q=${d.limit};w=${Math.ceil(d.windowMs / 1000)}`,
    ratelimit: `${name};r=${d.remaining};t=${Math.ceil(d.resetMs / 1000)}`,
  };
}

/** Throws 429 RATE_LIMITED for a refused decision, with Retry-After and the RateLimit headers. */
export function assertAllowed(d: RateLimitDecision): void {
  if (d.allowed) return;
  throw new AppError(RateLimitErrors.RATE_LIMITED, undefined, {
    headers: { ...rateLimitHeaders(d), 'retry-after': String(Math.max(1, Math.ceil(d.resetMs / 1000))) },
  });
}
