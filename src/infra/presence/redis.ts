/**
 * The shared PresenceStore on Redis: each transition is one Lua script over the
 * `{presence}` keys (infra/redis/scripts/presence*.lua), so concurrent tabs on
 * different instances see exactly one online and one offline transition.
 *
 * Degrades to instance-local presence (SPEC §1.3): every write also goes to a
 * local MemoryPresenceStore of this instance's own connections, which answers
 * whenever Redis cannot. When Redis returns, heartbeats re-register the live
 * connections, so shared presence is rebuilt within one heartbeat interval.
 */
import type { RedisHealth } from '../redis/health.ts';
import type { RedisKeys } from '../redis/keys.ts';
import type { ScriptedClient } from '../redis/scripts.ts';
import type { MemoryPresenceStore } from './memory.ts';
import type { OnlinePage, PresenceStore } from './store.ts';

export interface RedisPresenceStoreOptions {
  client: ScriptedClient;
  health: RedisHealth;
  keys: RedisKeys['presence'];
  local: MemoryPresenceStore;
  log: { warn(obj: object, msg: string): void };
}

export class RedisPresenceStore implements PresenceStore {
  readonly #o: RedisPresenceStoreOptions;

  constructor(options: RedisPresenceStoreOptions) {
    this.#o = options;
  }

  async touch(userId: string, connectionId: string, ttlMs: number): Promise<boolean> {
    const local = await this.#o.local.touch(userId, connectionId, ttlMs);
    const { keys } = this.#o;
    return this.#shared(
      (c) =>
        c.presenceTouch(keys.connections(userId), keys.online, keys.onlineIds, userId, connectionId, ttlMs),
      (added) => added === 1,
      local,
    );
  }

  async leave(userId: string, connectionId: string): Promise<boolean> {
    const local = await this.#o.local.leave(userId, connectionId);
    const { keys } = this.#o;
    return this.#shared(
      (c) => c.presenceLeave(keys.connections(userId), keys.online, keys.onlineIds, userId, connectionId),
      (removed) => removed === 1,
      local,
    );
  }

  async sweep(limit: number): Promise<string[]> {
    const local = await this.#o.local.sweep(limit);
    const { keys } = this.#o;
    return this.#shared(
      async (c) => {
        const due = await c.zrangebyscore(keys.online, '-inf', Date.now(), 'LIMIT', 0, limit);
        const gone: string[] = [];
        for (const userId of due) {
          if (
            (await c.presenceLeave(keys.connections(userId), keys.online, keys.onlineIds, userId, '')) === 1
          )
            gone.push(userId);
        }
        return gone;
      },
      (gone) => gone,
      local,
    );
  }

  async status(userIds: readonly string[]): Promise<boolean[]> {
    if (userIds.length === 0) return [];
    const { keys } = this.#o;
    return this.#shared(
      (c) => c.zmscore(keys.online, ...userIds),
      (scores) => {
        const now = Date.now();
        return scores.map((s) => s !== null && Number(s) > now);
      },
      () => this.#o.local.status(userIds),
    );
  }

  async online(cursor: string | undefined, limit: number): Promise<OnlinePage> {
    const { keys } = this.#o;
    return this.#shared(
      (c) => c.presenceOnline(keys.online, keys.onlineIds, cursor ?? '', limit),
      ([count, ids, last]) => ({ count, ids, nextCursor: last ?? null }),
      () => this.#o.local.online(cursor, limit),
    );
  }

  /** Runs `op` on Redis through the breaker; on any failure answers from this instance's own view. */
  async #shared<R, T>(
    op: (client: ScriptedClient) => Promise<R>,
    map: (result: R) => T,
    fallback: T | (() => Promise<T>),
  ): Promise<T> {
    try {
      return map(await this.#o.health.run((client) => op(client as ScriptedClient)));
    } catch (err) {
      if (this.#o.health.available)
        this.#o.log.warn({ err }, 'presence: redis command failed; instance-local');
      return typeof fallback === 'function' ? (fallback as () => Promise<T>)() : fallback;
    }
  }
}
