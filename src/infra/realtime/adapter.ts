/**
 * The Socket.IO adapter for this deployment. Services mode: the Redis Streams
 * adapter (broadcasts and disconnects reach every instance; after a Redis blip it
 * replays what it missed from the stream, and it stores connection-state
 * recovery sessions), on its own connection with the `worker` profile — the
 * adapter waits out an outage instead of failing fast. Embedded mode: none,
 * i.e. Socket.IO's in-memory adapter.
 */
import { createAdapter } from '@socket.io/redis-streams-adapter';
import type { ServerOptions } from 'socket.io';
import type { Config } from '../../config.ts';
import { createRedisClient, type RedisClient } from '../redis/client.ts';
import type { RedisKeys } from '../redis/keys.ts';

export interface RealtimeAdapter {
  /** undefined: Socket.IO's default in-memory adapter. */
  readonly adapter: ServerOptions['adapter'] | undefined;
  /**
   * `up` while every adapter connection (publisher, stream reader, subscriber) is ready: one
   * down stops cross-instance delivery or recovery. `absent`: the in-memory adapter.
   */
  status(): { status: 'up' | 'down' | 'absent'; reason?: string };
  /** Closes the adapter's Redis connections (after Socket.IO closed the adapter itself). */
  close(): Promise<void>;
}

interface Log {
  warn(obj: object, msg: string): void;
}

/** Called on each 'error' event of any adapter connection (a reconnect attempt failing counts). */
type OnError = (err: Error) => void;

/**
 * The adapter duplicates its client for the stream reader and the pub/sub
 * subscriber. The worker profile turns ioredis' auto-resubscribe off (see
 * redis/client.ts), so each duplicate re-subscribes its channels itself on every
 * reconnect, and every duplicate is closed with the adapter.
 */
function trackDuplicates(client: RedisClient, duplicates: RedisClient[], log: Log, onError: OnError): void {
  const duplicate = client.duplicate.bind(client) as () => RedisClient;
  (client as { duplicate: () => RedisClient }).duplicate = () => {
    const copy = duplicate();
    duplicates.push(copy);
    copy.on('error', onError);
    // The adapter awaits connect() without a rejection handler; a Redis down at start-up must not
    // end the process: the copy keeps reconnecting on its own, and its commands wait in its queue.
    const connect = copy.connect.bind(copy);
    (copy as { connect: () => Promise<void> }).connect = () => connect().catch(() => {});
    const channels = new Set<string>();
    const subscribe = copy.subscribe.bind(copy) as (...channels: string[]) => Promise<unknown>;
    const resubscribe = (list: string[]) =>
      subscribe(...list).catch((err: unknown) => log.warn({ err }, 'realtime adapter: subscribe failed'));
    (copy as unknown as { subscribe: (list: string[]) => Promise<unknown> }).subscribe = (list: string[]) => {
      for (const channel of list) channels.add(channel);
      return resubscribe(list);
    };
    let connected = false;
    copy.on('ready', () => {
      if (connected && channels.size > 0) void resubscribe([...channels]);
      connected = true;
    });
    return copy;
  };
}

export function createRealtimeAdapter(
  config: Config['redis'],
  keys: RedisKeys['realtime'],
  log: Log,
  onError: OnError,
): RealtimeAdapter {
  const client = createRedisClient(config, 'worker', 'realtime');
  if (!client)
    return {
      adapter: undefined,
      status: () => ({ status: 'absent', reason: 'in-memory adapter' }),
      close: async () => {},
    };
  const duplicates: RedisClient[] = [];
  trackDuplicates(client, duplicates, log, onError);
  let down = false;
  client.on('error', (err: Error) => {
    onError(err);
    if (!down) log.warn({ err }, 'realtime adapter: redis unreachable; cross-instance delivery waits for it');
    down = true;
  });
  client.on('ready', () => {
    down = false;
  });
  // Connects in the background: a missing Redis must not stop the start-up (SPEC §1.3).
  client.connect().catch(() => {});
  return {
    adapter: createAdapter(client, {
      streamName: keys.stream,
      channelPrefix: keys.channelPrefix,
      sessionKeyPrefix: keys.sessionPrefix,
    }),
    status() {
      const connections = [client, ...duplicates];
      const notReady = connections.filter((c) => c.status !== 'ready');
      if (notReady.length === 0) return { status: 'up' };
      return {
        status: 'down',
        reason: `${notReady.length} of ${connections.length} adapter connection(s) not ready (${notReady[0]?.status})`,
      };
    },
    async close() {
      for (const c of [client, ...duplicates]) c.disconnect();
    },
  };
}
