/**
 * Redis RateLimiter: counts are shared and exact across instances — fixed
 * windows kept by turn-n.lua (INCRBY + PTTL, atomic per counter). Every
 * consume and refund of an event-loop turn is sent at the end of the turn
 * with the turn's call (infra/redis/turn.ts), whatever the subjects: the API
 * budgets of all the users an instance serves in a turn, and their session
 * reads, cost one Redis call. Consumes of the same (policy, subject) within a
 * turn add up to one increment and are handed out in arrival order, exactly
 * as if counted one by one.
 *
 * While the shared Redis circuit is open, or when a call fails, each policy's
 * `whenRedisDown` decides: `insurance` consumes from a per-instance memory
 * limiter (so N instances admit at most N× the limit, never unlimited), `open`
 * allows, `closed` refuses with 503.
 */
import type { RateLimitPolicy } from '../../config.ts';
import { AppError } from '../../errors.ts';
import type { RedisHealth } from '../redis/health.ts';
import type { CounterRead, Increment, RedisTurn } from '../redis/turn.ts';
import { decision, type RateLimitDecision, type RateLimiter, UnknownPolicyError } from './limiter.ts';
import type { MemoryRateLimiter } from './memory.ts';
import { RateLimitErrors } from './rate-limit.errors.ts';

export interface RedisRateLimiterDeps {
  /** Carries the counts; `health` is the circuit it runs them through. */
  turn: RedisTurn;
  health: RedisHealth;
  policies: Readonly<Record<string, RateLimitPolicy>>;
  /** The key of one (policy, subject) counter. */
  counterKey: (policy: string, subject: string) => string;
  insurance: MemoryRateLimiter;
  log: { warn(obj: object, msg: string): void };
}

export class RedisRateLimiter implements RateLimiter {
  readonly #deps: RedisRateLimiterDeps;
  /**
   * The increment of each counter in the turn's call not sent yet, and its answer, by policy
   * then subject (two lookups on strings the callers hold, where a joined key would be a new
   * string to hash on every consume): the consumes of one counter in a turn add up to one increment.
   */
  readonly #pending = new Map<string, Map<string, { increment: Increment; counted: Promise<CounterRead> }>>();
  /** The turn call (RedisTurn.sent) that #pending's increments ride on. */
  #call = -1;
  /** The last turn call whose failure was logged: one warning per failed call, not per consume. */
  #warned = -1;

  constructor(deps: RedisRateLimiterDeps) {
    this.#deps = deps;
  }

  /** Not `async`: one promise per call, the turn's (see RedisTurn), and its `then`. */
  consume(policy: string, subject: string, points = 1): Promise<RateLimitDecision> {
    const settings = this.#deps.policies[policy];
    if (!settings) return Promise.reject(new UnknownPolicyError(policy));
    if (!this.#deps.health.available) return this.#whenRedisDown(policy, subject, points);
    const { turn } = this.#deps;
    if (turn.sent !== this.#call) {
      // That call has left: its increments are final.
      this.#pending.clear();
      this.#call = turn.sent;
    }
    let ofPolicy = this.#pending.get(policy);
    if (ofPolicy === undefined) {
      ofPolicy = new Map();
      this.#pending.set(policy, ofPolicy);
    }
    let pending = ofPolicy.get(subject);
    if (pending === undefined) {
      const increment = {
        key: this.#deps.counterKey(policy, subject),
        windowMs: settings.durationMs,
        points: 0,
      };
      pending = { increment, counted: turn.count(increment) };
      ofPolicy.set(subject, pending);
    }
    const { increment, counted } = pending;
    const call = this.#call;
    const before = increment.points;
    increment.points += points;
    return counted.then(
      ([total, ttlMs]) =>
        // Redis added the turn's sum at once; this caller's share ends `before + points` into it.
        decision(policy, settings, total - increment.points + before + points, ttlMs),
      (err: unknown) => {
        if (this.#warned !== call) {
          this.#warned = call;
          this.#deps.log.warn({ layer: 'rate-limit', err: (err as Error).message }, 'redis limiter failed');
        }
        return this.#whenRedisDown(policy, subject, points);
      },
    );
  }

  async refund(policy: string, subject: string, points = 1): Promise<void> {
    const { durationMs } = this.#policy(policy);
    const key = this.#deps.counterKey(policy, subject);
    if (this.#deps.health.available) {
      await this.#deps.turn.count({ key, windowMs: durationMs, points: -points }).catch(() => {});
    }
    await this.#deps.insurance.refund(policy, subject, points);
  }

  async reset(policy: string, subject: string): Promise<void> {
    this.#policy(policy);
    const key = this.#deps.counterKey(policy, subject);
    if (this.#deps.health.available)
      await this.#deps.health.run((client) => client.unlink(key)).catch(() => {});
    await this.#deps.insurance.reset(policy, subject);
  }

  async #whenRedisDown(policy: string, subject: string, points: number): Promise<RateLimitDecision> {
    const settings = this.#policy(policy);
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

  #policy(policy: string): RateLimitPolicy {
    const settings = this.#deps.policies[policy];
    if (!settings) throw new UnknownPolicyError(policy);
    return settings;
  }
}
