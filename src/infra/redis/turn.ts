/**
 * The request path's speed-layer work of one event-loop turn, sent as one
 * Redis call when the turn ends (setImmediate): the session-state reads and
 * the API budgets of every request an instance handles in a turn, whatever
 * the users, leave as one script run (scripts/turn-n.lua) — one command to
 * build, write, time out, parse and observe, and one read of its answer,
 * instead of one per request or one per port.
 *
 * Why waiting for the end of the turn delays nobody: the requests of a turn
 * were read from sockets one poll reported ready; their operations are queued
 * while they are processed, synchronously, and sent right after, before the
 * loop polls again. The call is written at once (the request-path client does
 * not auto-pipeline: client.ts), so Redis runs it after every command issued
 * before the turn ended and before any issued after.
 *
 * The call goes through the health circuit once (RedisHealth.run: breaker,
 * latency histogram), and its failure fails every operation of the turn; each
 * port decides what that means (the cache falls back to SQL, a budget to its
 * policy's `whenRedisDown`). On a Cluster, keys live on many slots: each
 * operation is then its own call of the same script.
 */
import type { RedisHealth } from './health.ts';
import type { ScriptedClient } from './scripts.ts';
import { uniqueToken } from './token.ts';

/** A cache entry as read: its payload (undefined on a miss) and its generation. */
export interface EntryRead {
  payload: string | undefined;
  generation: string;
}
/** A counter after an increment: its count, and the ms left in its window. */
export type CounterRead = readonly [consumed: number, ttlMs: number];

/** A counter's increment: its points may still grow until the turn's call is sent (see `count`). */
export interface Increment {
  readonly key: string;
  readonly windowMs: number;
  points: number;
}

interface Waiting<T> {
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
}

export class RedisTurn {
  readonly #client: ScriptedClient;
  readonly #health: RedisHealth;
  readonly #retentionMs: number;
  #reads: string[] = [];
  #readers: Waiting<EntryRead>[] = [];
  #increments: Increment[] = [];
  #counted: Waiting<CounterRead>[] = [];
  #scheduled = false;
  /** Calls sent so far: operations queued under one value of it share a call. */
  #sent = 0;
  readonly #flush = () => this.#send();

  /** `health` watches `client`; `retentionMs`: how long a generation claimed by a read outlives its payload. */
  constructor(client: ScriptedClient, health: RedisHealth, retentionMs: number) {
    this.#client = client;
    this.#health = health;
    this.#retentionMs = retentionMs;
  }

  /** Entry `key`'s payload and generation (claiming a generation on a miss), with this turn's call. */
  read(key: string): Promise<EntryRead> {
    this.#schedule();
    this.#reads.push(key);
    return new Promise((resolve, reject) => this.#readers.push({ resolve, reject }));
  }

  /**
   * Adds the increment's points (negative: a refund, floored at 0) to its counter, with this
   * turn's call. The points are read when the call is sent: until `sent` changes, the caller
   * may add more to the same increment (one counter's consumes of a turn are one increment).
   */
  count(increment: Increment): Promise<CounterRead> {
    this.#schedule();
    this.#increments.push(increment);
    return new Promise((resolve, reject) => this.#counted.push({ resolve, reject }));
  }

  /** Changes each time a call is sent. */
  get sent(): number {
    return this.#sent;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flush);
  }

  #send(): void {
    const reads = this.#reads;
    const readers = this.#readers;
    const increments = this.#increments;
    const counted = this.#counted;
    this.#reads = [];
    this.#readers = [];
    this.#increments = [];
    this.#counted = [];
    this.#scheduled = false;
    this.#sent++;
    this.#health
      .run(() => this.#call(this.#client, reads, increments))
      .then(
        (replies) => {
          for (let i = 0; i < readers.length; i++) {
            (readers[i] as Waiting<EntryRead>).resolve({
              payload: (replies[2 * i] as string | null) ?? undefined,
              generation: replies[2 * i + 1] as string,
            });
          }
          const base = 2 * readers.length;
          for (let j = 0; j < counted.length; j++) {
            (counted[j] as Waiting<CounterRead>).resolve([
              replies[base + 2 * j] as number,
              replies[base + 2 * j + 1] as number,
            ]);
          }
        },
        (err: unknown) => {
          for (const w of readers) w.reject(err);
          for (const w of counted) w.reject(err);
        },
      );
  }

  #call(
    client: ScriptedClient,
    reads: string[],
    increments: Increment[],
  ): Promise<(string | number | null)[]> {
    const token = uniqueToken();
    if (client.isCluster) {
      const calls = [
        ...reads.map((key) => client.turn(1, key, 1, this.#retentionMs, token)),
        ...increments.map((i) => client.turn(1, i.key, 0, this.#retentionMs, token, i.points, i.windowMs)),
      ];
      return Promise.all(calls).then((each) => each.flat());
    }
    const args: (string | number)[] = [reads.length + increments.length, ...reads];
    for (const i of increments) args.push(i.key);
    args.push(reads.length, this.#retentionMs, token);
    for (const i of increments) args.push(i.points, i.windowMs);
    return client.turn(...(args as [number, ...(string | number)[]]));
  }
}
