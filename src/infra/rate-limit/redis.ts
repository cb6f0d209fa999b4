/**
 * Redis RateLimiter: counts are shared and exact across instances — fixed
 * windows kept by rateLimitConsume-n.lua (SET NX PX + INCRBY, atomic per
 * counter). Every consume of an event-loop turn is sent at the end of the
 * turn in one script call (infra/redis/per-turn.ts), whatever the subjects:
 * the API budgets of all the users an instance serves in a turn cost one
 * Redis call. Consumes of the same (policy, subject) within a turn add up to
 * one increment and are handed out in arrival order, exactly as if counted
 * one by one. On a Cluster each counter is its own call (its own slot).
 *
 * While the shared Redis circuit is open, or when a call fails, each policy's
 * `whenRedisDown` decides: `insurance` consumes from a per-instance memory
 * limiter (so N instances admit at most N× the limit, never unlimited), `open`
 * allows, `closed` refuses with 503.
 */
import type { RateLimitPolicy } from '../../config.ts';
import { AppError } from '../../errors.ts';
import type { RedisHealth } from '../redis/health.ts';
import { PerTurn } from '../redis/per-turn.ts';
import type { ScriptedClient } from '../redis/scripts.ts';
import { decision, type RateLimitDecision, type RateLimiter, UnknownPolicyError } from './limiter.ts';
import type { MemoryRateLimiter } from './memory.ts';
import { RateLimitErrors } from './rate-limit.errors.ts';

export interface RedisRateLimiterDeps {
  client: ScriptedClient;
  health: RedisHealth;
  policies: Readonly<Record<string, RateLimitPolicy>>;
  /** The key of one (policy, subject) counter. */
  counterKey: (policy: string, subject: string) => string;
  insurance: MemoryRateLimiter;
  log: { warn(obj: object, msg: string): void };
}

/** One counter's increment in the current turn: the sum of its consumes so far. */
interface Increment {
  key: string;
  points: number;
  windowMs: number;
}

/** Redis's answer for one counter: its count after the increment, and the ms left in its window. */
type Counted = readonly [consumed: number, ttlMs: number];

export class RedisRateLimiter implements RateLimiter {
  readonly #deps: RedisRateLimiterDeps;
  /** This turn's increment and its pending answer, by `policy\nsubject`; emptied when the turn is sent. */
  readonly #turn = new Map<string, { increment: Increment; counted: Promise<Counted> }>();
  readonly #perTurn = new PerTurn<Increment, Counted>((increments) => {
    this.#turn.clear();
    return this.#count(increments);
  });

  constructor(deps: RedisRateLimiterDeps) {
    this.#deps = deps;
  }

  /** Not `async`: one promise per call, the turn's (see PerTurn), and its `then`. */
  consume(policy: string, subject: string, points = 1): Promise<RateLimitDecision> {
    const settings = this.#deps.policies[policy];
    if (!settings) return Promise.reject(new UnknownPolicyError(policy));
    if (!this.#deps.health.available) return this.#whenRedisDown(policy, subject, points);
    const id = `${policy}\n${subject}`;
    let pending = this.#turn.get(id);
    if (pending === undefined) {
      const increment = {
        key: this.#deps.counterKey(policy, subject),
        points: 0,
        windowMs: settings.durationMs,
      };
      pending = { increment, counted: this.#perTurn.add(increment) };
      this.#turn.set(id, pending);
    }
    const { increment, counted } = pending;
    const before = increment.points;
    increment.points += points;
    return counted.then(
      ([total, ttlMs]) =>
        // Redis added the turn's sum at once; this caller's share ends `before + points` into it.
        decision(policy, settings, total - increment.points + before + points, ttlMs),
      () => this.#whenRedisDown(policy, subject, points),
    );
  }

  async refund(policy: string, subject: string, points = 1): Promise<void> {
    const { durationMs } = this.#policy(policy);
    const key = this.#deps.counterKey(policy, subject);
    await this.#bestEffort((client) => client.rateLimitConsume(1, key, -points, durationMs));
    await this.#deps.insurance.refund(policy, subject, points);
  }

  async reset(policy: string, subject: string): Promise<void> {
    this.#policy(policy);
    const key = this.#deps.counterKey(policy, subject);
    await this.#bestEffort((client) => client.unlink(key));
    await this.#deps.insurance.reset(policy, subject);
  }

  /** One script call for the turn's increments (one per counter on a Cluster, where keys live on many slots). */
  async #count(increments: readonly Increment[]): Promise<Counted[]> {
    try {
      const replies = await this.#deps.health.run((client) => {
        const scripted = client as ScriptedClient;
        if (!client.isCluster) return scripted.rateLimitConsume(increments.length, ...flatten(increments));
        return Promise.all(
          increments.map((i) => scripted.rateLimitConsume(1, i.key, i.points, i.windowMs)),
        ).then((each) => each.flat());
      });
      return increments.map((_, i) => [replies[2 * i] as number, replies[2 * i + 1] as number]);
    } catch (err) {
      this.#deps.log.warn({ layer: 'rate-limit', err: (err as Error).message }, 'redis limiter failed');
      throw err;
    }
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

  async #bestEffort(op: (client: ScriptedClient) => Promise<unknown>): Promise<void> {
    if (!this.#deps.health.available) return;
    await this.#deps.health.run((client) => op(client as ScriptedClient)).catch(() => {});
  }

  #policy(policy: string): RateLimitPolicy {
    const settings = this.#deps.policies[policy];
    if (!settings) throw new UnknownPolicyError(policy);
    return settings;
  }
}

/** The script's arguments after the key count: every key, then each counter's points and window. */
function flatten(increments: readonly Increment[]): (string | number)[] {
  const args: (string | number)[] = increments.map((i) => i.key);
  for (const i of increments) args.push(i.points, i.windowMs);
  return args;
}
