/**
 * Rankings on Redis: one sorted set, one revision hash and one mark per
 * ranking, on one Cluster slot, changed only by the ranking* scripts. Every
 * call goes through the shared health circuit and throws when Redis cannot
 * be used; callers fall back to SQL. An update that failed (Redis down, or
 * one timed-out command the circuit did not even notice) leaves its ranking
 * suspect: before its next operation, and when the circuit closes again, this
 * instance discards its suspect rankings so their next reader rebuilds them
 * from SQL.
 */
import { randomUUID } from 'node:crypto';
import type { RedisHealth } from '../redis/health.ts';
import type { RedisKeys } from '../redis/keys.ts';
import type { ScriptedClient } from '../redis/scripts.ts';
import {
  BUILDING_TTL_MS,
  type NotReady,
  type RankEntry,
  type Ranked,
  type Rankings,
  READY_TTL_MS,
} from './ranking.ts';

/** Sets and revisions outlive their ready mark, so an idle set is collected but a live one never shrinks. */
const RETENTION_MS = 2 * READY_TTL_MS;

export interface RedisRankingsDeps {
  client: ScriptedClient;
  health: RedisHealth;
  keys: RedisKeys;
  log: { warn(obj: object, msg: string): void };
}

export class RedisRankings implements Rankings {
  readonly #client: ScriptedClient;
  readonly #health: RedisHealth;
  readonly #keys: RedisKeys;
  readonly #log: RedisRankingsDeps['log'];
  /** Rankings an update could not reach: discarded before the next operation that reaches Redis. */
  readonly #suspect = new Set<string>();

  constructor(deps: RedisRankingsDeps) {
    this.#client = deps.client;
    this.#health = deps.health;
    this.#keys = deps.keys;
    this.#log = deps.log;
    deps.health.on('change', (state) => {
      if (state !== 'closed') return;
      this.#discardSuspect().catch((err: unknown) => {
        this.#log.warn(
          { err },
          'could not discard rankings that missed updates; retrying before the next use',
        );
      });
    });
  }

  async apply(set: string, entries: readonly RankEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const k = this.#keys.ranking(set);
    try {
      await this.#discardSuspect();
      await this.#health.run(() =>
        this.#client.rankingApply(k.set, k.revisions, RETENTION_MS, ...triples(entries)),
      );
    } catch (err) {
      this.#suspect.add(set);
      throw err;
    }
  }

  async range(set: string, start: number, stop: number): Promise<Ranked[] | NotReady> {
    const k = this.#keys.ranking(set);
    await this.#discardSuspect();
    const [status, ...flat] = await this.#health.run(() =>
      this.#client.rankingRange(k.mark, k.set, start, stop),
    );
    if (status !== 'ready') return status as NotReady;
    const ranked: Ranked[] = [];
    for (let i = 0; i < flat.length; i += 2)
      ranked.push({ id: flat[i] as string, score: Number(flat[i + 1]) });
    return ranked;
  }

  async beginRebuild(set: string): Promise<string> {
    const k = this.#keys.ranking(set);
    const token = randomUUID();
    await this.#health.run(() =>
      this.#client.rankingBegin(k.mark, k.set, k.revisions, token, BUILDING_TTL_MS),
    );
    return token;
  }

  async finishRebuild(set: string, token: string, entries: readonly RankEntry[]): Promise<boolean> {
    const k = this.#keys.ranking(set);
    const done = await this.#health.run(() =>
      this.#client.rankingFinish(
        k.mark,
        k.set,
        k.revisions,
        token,
        READY_TTL_MS,
        RETENTION_MS,
        ...triples(entries),
      ),
    );
    return done === 1;
  }

  async discard(sets: readonly string[]): Promise<void> {
    if (sets.length === 0) return;
    // One DEL per ranking: their keys live on different Cluster slots.
    await this.#health.run(() =>
      Promise.all(sets.map((set) => this.#client.del(this.#keys.ranking(set).mark))),
    );
  }

  /** Throws, keeping them suspect, while Redis still cannot be reached. */
  async #discardSuspect(): Promise<void> {
    if (this.#suspect.size === 0) return;
    const sets = [...this.#suspect];
    await this.discard(sets);
    for (const set of sets) this.#suspect.delete(set);
  }
}

function triples(entries: readonly RankEntry[]): string[] {
  return entries.flatMap(({ id, revision, score }) => [
    id,
    String(revision),
    score === null ? '' : String(score),
  ]);
}
