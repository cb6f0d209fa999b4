/**
 * Redis RateLimiter: counts are shared and exact across instances (one atomic
 * Lua INCRBY+PEXPIRE per call). The first consume of a (policy, subject) in an
 * event-loop turn is sent at once — traffic from many users waits for nothing;
 * the consumes of that subject that follow it in the same turn are sent at the
 * end of the turn as one INCRBY of their sum and handed out in arrival order,
 * exactly as if they had been counted one by one: a flood from one account or
 * address costs two Redis calls per turn, not one per request.
 *
 * While the shared Redis circuit is open, or when a call fails, each policy's
 * `whenRedisDown` decides: `insurance` consumes from a per-instance memory
 * limiter (so N instances admit at most N× the limit, never unlimited), `open`
 * allows, `closed` refuses with 503.
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

/** The consumes of one (policy, subject) that follow its first in a turn, sent at the end of the turn. */
interface Batch {
  policy: string;
  limiter: RateLimiterRedis;
  subject: string;
  points: number;
  callers: { points: number; resolve: (decision: RateLimitDecision | Promise<RateLimitDecision>) => void }[];
}

export class RedisRateLimiter implements RateLimiter {
  readonly #deps: RedisRateLimiterDeps;
  readonly #limiters = new Map<string, RateLimiterRedis>();
  /** Subjects consumed in this turn: `null` until a second consume opens a batch behind the first. */
  readonly #turn = new Map<string, Batch | null>();
  readonly #endTurn = () => {
    for (const batch of this.#turn.values()) if (batch) void this.#send(batch);
    this.#turn.clear();
  };

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
    if (!this.#deps.health.available) return this.#whenRedisDown(policy, subject, points);
    const id = `${policy}\n${subject}`;
    const batch = this.#turn.get(id);
    if (batch === undefined) {
      if (this.#turn.size === 0) setImmediate(this.#endTurn);
      this.#turn.set(id, null);
      return new Promise((resolve) =>
        this.#send({ policy, limiter, subject, points, callers: [{ points, resolve }] }),
      );
    }
    // Same connection, sent later: Redis counts this batch after the first call, in arrival order.
    const queued = batch ?? { policy, limiter, subject, points: 0, callers: [] };
    if (!batch) this.#turn.set(id, queued);
    queued.points += points;
    return new Promise((resolve) => queued.callers.push({ points, resolve }));
  }

  /** Counts a batch with one call and settles its callers in arrival order. */
  async #send({ policy, limiter, subject, points, callers }: Batch): Promise<void> {
    const settings = this.#deps.policies[policy] as RateLimitPolicy;
    let counted: { consumedPoints: number; msBeforeNext: number };
    try {
      counted = await this.#deps.health.run(() => limiter.consume(subject, points));
    } catch (outcome) {
      // rate-limiter-flexible rejects with a RateLimiterRes when over the limit: a decision, not a failure.
      if (!(outcome instanceof RateLimiterRes)) {
        this.#deps.log.warn(
          { layer: 'rate-limit', policy, err: (outcome as Error).message },
          'redis limiter failed',
        );
        for (const caller of callers) caller.resolve(this.#whenRedisDown(policy, subject, caller.points));
        return;
      }
      counted = outcome;
    }
    let consumed = counted.consumedPoints - points;
    for (const caller of callers) {
      consumed += caller.points;
      caller.resolve(decision(policy, settings, consumed, counted.msBeforeNext));
    }
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

  async #whenRedisDown(policy: string, subject: string, points: number): Promise<RateLimitDecision> {
    const settings = this.#deps.policies[policy] as RateLimitPolicy;
    switch (settings.whenRedisDown) {
      case 'insurance':
        return this.#deps.insurance.consume(policy, subject, points, true);
      case 'open':
        return { ...decision(policy, settings, 0, settings.durationMs, true), remaining: settings.points };
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
