/**
 * PresenceStore: which users have at least one live connection, across every
 * instance. A connection lives until its expiry (refreshed by heartbeats), so a
 * crashed instance's connections lapse on their own. Adapters: `RedisPresenceStore`
 * (shared; atomic Lua per transition) and `MemoryPresenceStore` (embedded mode,
 * and the instance-local fallback while Redis is down). Both pass
 * test/contracts/presence-store.contract.test.ts.
 *
 * Transitions: `touch` returns true only for the call that brings a user online,
 * `leave`/`sweep` report a user going offline exactly once, so online and offline
 * announcements alternate per user however many tabs and instances are involved.
 */
export interface OnlinePage {
  /** Users online now (all pages). */
  count: number;
  /** This page's user ids, ascending. */
  ids: string[];
  /** Pass back as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

export interface PresenceStore {
  /** Records or refreshes a connection, alive for `ttlMs`; true when its user thereby came online. */
  touch(userId: string, connectionId: string, ttlMs: number): Promise<boolean>;
  /** Removes a connection; true when its user thereby went offline (no live connection left). */
  leave(userId: string, connectionId: string): Promise<boolean>;
  /**
   * Takes offline the users (at most `limit`) whose every connection has expired,
   * and returns them; each such user is returned by exactly one call.
   */
  sweep(limit: number): Promise<string[]>;
  /** Whether each user is online, in the order given; one round trip. */
  status(userIds: readonly string[]): Promise<boolean[]>;
  /** Online users in id order after `cursor`, and their total count. */
  online(cursor: string | undefined, limit: number): Promise<OnlinePage>;
}
