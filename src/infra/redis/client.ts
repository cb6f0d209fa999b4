/**
 * The one ioredis factory: standalone (`redis://`, `rediss://`), Sentinel or
 * Cluster, from config. Two profiles, because the right failure behaviour
 * differs by caller:
 *
 * - `request`: used on the HTTP/WebSocket path. No offline queue, one retry,
 *   a `commandTimeout` of a few hundred ms: when Redis is dead or paused a
 *   command fails fast and the caller falls back (SQL, in-memory limiter),
 *   instead of ioredis' default of queueing for 20 retries (over a minute).
 * - `worker`: used by background consumers (BullMQ). Commands wait out an
 *   outage (`maxRetriesPerRequest: null`), since nobody is waiting on them.
 *   Auto-resubscribe is off: ioredis fires its own re-`SUBSCRIBE` without a
 *   rejection handler, so a connection closed mid-resubscribe raises an
 *   unhandled rejection, which ends a Node process. A subscriber re-subscribes
 *   on every `ready` itself (see infra/cache/bus.ts).
 *
 * Both reconnect forever with capped, jittered backoff.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../../config.ts';

export type RedisClient = Redis | Cluster;
export type RedisProfile = 'request' | 'worker';

/** Backoff for reconnects: 100 ms doubling to a 2 s cap, with jitter so instances don't reconnect in lockstep. */
export function reconnectDelay(attempt: number): number {
  const base = Math.min(100 * 2 ** Math.min(attempt, 10), 2000);
  return Math.round(base / 2 + Math.random() * (base / 2));
}

function profileOptions(config: Config['redis'], profile: RedisProfile, name: string): RedisOptions {
  const common: RedisOptions = {
    connectionName: `parley:${name}`,
    lazyConnect: true,
    connectTimeout: 2000,
    retryStrategy: reconnectDelay,
    // On READONLY (a failed-over primary became a replica), reconnect to find the new primary.
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  };
  if (profile === 'worker')
    return { ...common, maxRetriesPerRequest: null, enableOfflineQueue: true, autoResubscribe: false };
  return {
    ...common,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: config.commandTimeoutMs,
    // A socket with a stalled peer must not look healthy for long.
    keepAlive: 5000,
    // No auto-pipelining: the hot reads and budgets already leave as one call per event-loop turn
    // (infra/redis/turn.ts), and auto-pipelining would hold each batch for one more loop
    // iteration (its own setImmediate, queued from ours). Nor may only the batches skip it: a
    // batch written ahead of an invalidation queued before it would let a read that began after
    // the invalidation's local part see the old entry (test: H2). Every command is written
    // when issued, so Redis runs them in the order they were issued.
    enableAutoPipelining: false,
  };
}

/**
 * Creates (but does not connect) a client for the configured target.
 * Returns undefined when no Redis is configured (embedded mode).
 */
export function createRedisClient(
  config: Config['redis'],
  profile: RedisProfile,
  name: string,
): RedisClient | undefined {
  const options = profileOptions(config, profile, name);
  switch (config.mode) {
    case 'none':
      return undefined;
    case 'standalone':
      return new Redis(config.url, options);
    case 'sentinel':
      return new Redis({
        ...options,
        sentinels: config.sentinels,
        name: config.name,
        password: config.password,
        sentinelPassword: config.password,
        ...(config.tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
      });
    case 'cluster': {
      const { retryStrategy, enableOfflineQueue, ...redisOptions } = options;
      return new Cluster(config.nodes, {
        lazyConnect: true,
        enableOfflineQueue,
        clusterRetryStrategy: retryStrategy as (times: number) => number,
        redisOptions: { ...redisOptions, password: config.password, ...(config.tls ? { tls: {} } : {}) },
      });
    }
  }
}
