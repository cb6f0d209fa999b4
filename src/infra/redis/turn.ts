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
 * A busy turn does not wait for its end: once MAX_OPERATIONS are queued they
 * leave with the next operation, which starts the next call. Under load
 * one poll can hand over most of an instance's connections (60 requests per
 * call were counted at 100 connections); held to the end of the turn, Redis
 * then sits idle while the instance parses them, and the instance sits idle
 * while Redis runs them. Sent by 64, the two overlap (the same-run figures are
 * in docs/speed-layer.md); calls of 8 or 16 cost more per request than they
 * saved. Each call still holds only operations of the current turn, so what
 * is said above of ordering holds for every call.
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

/** Operations (reads + increments) that make a turn's call leave before the turn ends. */
export const MAX_OPERATIONS = 64;

interface Waiting<T> {
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
}

export class RedisTurn {
  readonly #client: ScriptedClient;
  readonly #health: RedisHealth;
  readonly #retentionMs: number;
  readonly #maxOperations: number;
  #reads: string[] = [];
  #readers: Waiting<EntryRead>[] = [];
  #increments: Increment[] = [];
  #counted: Waiting<CounterRead>[] = [];
  #scheduled = false;
  /** Calls sent so far: operations queued under one value of it share a call. */
  #sent = 0;
  readonly #flush = () => {
    this.#scheduled = false;
    if (this.#queued > 0) this.#send();
  };

  /**
   * `health` watches `client`; `retentionMs`: how long a generation claimed by a read outlives its
   * payload; `maxOperations`: how many operations make a call leave before the turn ends.
   */
  constructor(
    client: ScriptedClient,
    health: RedisHealth,
    retentionMs: number,
    maxOperations = MAX_OPERATIONS,
  ) {
    this.#client = client;
    this.#health = health;
    this.#retentionMs = retentionMs;
    this.#maxOperations = maxOperations;
  }

  /** Entry `key`'s payload and generation (claiming a generation on a miss), with this turn's call. */
  read(key: string): Promise<EntryRead> {
    this.#admit();
    this.#reads.push(key);
    return new Promise((resolve, reject) => this.#readers.push({ resolve, reject }));
  }

  /**
   * Adds the increment's points (negative: a refund, floored at 0) to its counter, with this
   * turn's call. The points are read when the call is sent: until `sent` changes, the caller
   * may add more to the same increment (one counter's consumes of a turn are one increment).
   * `sent` may change during this call (a full call leaves before the increment joins the next).
   */
  count(increment: Increment): Promise<CounterRead> {
    this.#admit();
    this.#increments.push(increment);
    return new Promise((resolve, reject) => this.#counted.push({ resolve, reject }));
  }

  /** Changes each time a call is sent. */
  get sent(): number {
    return this.#sent;
  }

  /** Operations waiting for the next call. */
  get #queued(): number {
    return this.#reads.length + this.#increments.length;
  }

  /**
   * Makes room for one more operation: sends a full call first. Checked before queueing, never
   * after, so an increment just queued can still grow until the next operation comes.
   */
  #admit(): void {
    if (this.#queued >= this.#maxOperations) this.#send();
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
