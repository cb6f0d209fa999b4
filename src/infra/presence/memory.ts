/** The in-process PresenceStore: embedded mode, and each instance's own view while Redis is down. */
import type { OnlinePage, PresenceStore } from './store.ts';

export class MemoryPresenceStore implements PresenceStore {
  /** user id → connection id → expiry (epoch ms); a user is online while present here. */
  readonly #users = new Map<string, Map<string, number>>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  async touch(userId: string, connectionId: string, ttlMs: number): Promise<boolean> {
    let connections = this.#users.get(userId);
    const cameOnline = connections === undefined;
    if (!connections) {
      connections = new Map();
      this.#users.set(userId, connections);
    }
    connections.set(connectionId, this.#now() + ttlMs);
    return cameOnline;
  }

  async leave(userId: string, connectionId: string): Promise<boolean> {
    const connections = this.#users.get(userId);
    if (!connections) return false;
    connections.delete(connectionId);
    return this.#settle(userId, connections);
  }

  async sweep(limit: number): Promise<string[]> {
    const gone: string[] = [];
    for (const [userId, connections] of this.#users) {
      if (gone.length >= limit) break;
      if (this.#settle(userId, connections)) gone.push(userId);
    }
    return gone;
  }

  async status(userIds: readonly string[]): Promise<boolean[]> {
    return userIds.map((id) => this.#live(id));
  }

  async online(cursor: string | undefined, limit: number): Promise<OnlinePage> {
    const live = [...this.#users.keys()].filter((id) => this.#live(id)).sort();
    const rest = cursor === undefined ? live : live.filter((id) => id > cursor);
    const ids = rest.slice(0, limit);
    return { count: live.length, ids, nextCursor: rest.length > limit ? (ids.at(-1) ?? null) : null };
  }

  #live(userId: string): boolean {
    const now = this.#now();
    for (const expiry of this.#users.get(userId)?.values() ?? []) if (expiry > now) return true;
    return false;
  }

  /** Drops expired connections; true when none is left and the user went offline. */
  #settle(userId: string, connections: Map<string, number>): boolean {
    const now = this.#now();
    for (const [id, expiry] of connections) if (expiry <= now) connections.delete(id);
    if (connections.size > 0) return false;
    this.#users.delete(userId);
    return true;
  }
}
