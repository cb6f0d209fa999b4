/**
 * The only module that builds Redis keys. Every key is
 * `<REDIS_KEY_PREFIX><version>:<namespace>:...`; bumping `KEY_VERSION` makes a
 * format change start from an empty key space instead of misreading old data.
 * Keys that a single script or lock must address together share a Cluster
 * slot through a `{hash tag}`.
 */

/** Bump when the layout or encoding of any key changes. */
export const KEY_VERSION = 'v1';

export interface RedisKeys {
  /** The prefix every key of this deployment starts with (prefix + version). */
  readonly root: string;
  /** Pattern matching every key of this deployment; for tests and maintenance scripts only (never on a request path). */
  readonly everything: string;
  readonly cache: {
    /** Hash `{ v: payload, g: generation }` of one cached entry. */
    entry(namespace: string, id: string): string;
    /** Single-flight lock for loading `entry(namespace, id)`; same slot as the entry. */
    lock(entryKey: string): string;
    /** Current version token of a paginated collection. */
    collection(name: string): string;
    /** Pub/sub channel that carries L1 invalidations between instances. */
    readonly bus: string;
  };
  /** The keys of one ranking (infra/ranking), on one Cluster slot. */
  ranking(name: string): {
    /** 'ready' or a rebuild token; absent when the ranking must be rebuilt. */
    readonly mark: string;
    /** Sorted set id → score. */
    readonly set: string;
    /** Hash id → revision of the last applied update. */
    readonly revisions: string;
  };
  /** The fixed-window counter of one (policy, subject): an integer with an expiry. */
  rateLimit(policy: string, subject: string): string;
  /**
   * Presence. Every key shares the `{presence}` hash tag, so one script can move a
   * user between online and offline atomically on Cluster too (one slot: simple and
   * exact; the cost is that presence lives on one shard).
   */
  readonly presence: {
    /** Sorted set of one user's live connections: member = connection id, score = expiry (epoch ms). */
    connections(userId: string): string;
    /** Sorted set of online users: member = user id, score = their latest connection expiry. */
    readonly online: string;
    /** Sorted set of the same user ids, all score 0, for paging them in id order (ZRANGE BYLEX). */
    readonly onlineIds: string;
  };
  /** Socket.IO Redis Streams adapter: its stream, pub/sub channel prefix and recovery-session key prefix. */
  readonly realtime: {
    readonly stream: string;
    readonly channelPrefix: string;
    readonly sessionPrefix: string;
  };
}

export function createKeys(prefix: string): RedisKeys {
  const root = `${prefix}${KEY_VERSION}:`;
  return {
    root,
    everything: `${root}*`,
    cache: {
      entry: (namespace, id) => `${root}{c:${namespace}:${id}}`,
      lock: (entryKey) => `${entryKey}:lock`,
      collection: (name) => `${root}cv:${name}`,
      bus: `${root}bus:cache`,
    },
    ranking: (name) => ({
      mark: `${root}{rk:${name}}:mark`,
      set: `${root}{rk:${name}}:set`,
      revisions: `${root}{rk:${name}}:rev`,
    }),
    rateLimit: (policy, subject) => `${root}rl:${policy}:${subject}`,
    presence: {
      connections: (userId) => `${root}{presence}:conns:${userId}`,
      online: `${root}{presence}:online`,
      onlineIds: `${root}{presence}:online-ids`,
    },
    realtime: {
      stream: `${root}sio:stream`,
      channelPrefix: `${root}sio:ch`,
      sessionPrefix: `${root}sio:session:`,
    },
  };
}
