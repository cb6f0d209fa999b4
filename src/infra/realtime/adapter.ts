/**
 * The Socket.IO adapter for this deployment. Services mode: the Redis Streams
 * adapter (broadcasts and disconnects reach every instance; after a Redis blip it
 * replays what it missed from the stream, and it stores connection-state
 * recovery sessions), on its own connection with the `worker` profile — the
 * adapter waits out an outage instead of failing fast. Embedded mode: none,
 * i.e. Socket.IO's in-memory adapter.
 *
 * Cluster requests (those that wait for other instances' answers: fetchSockets,
 * serverSideEmit with an ack, an acknowledged broadcast) expect an answer from every
 * instance subscribed to the namespace's channel, a paused one included. This adapter has
 * no `requestsTimeout` option: fetchSockets and serverSideEmit give up after
 * socket.io-adapter's fixed 5 s (RELIABILITY J6's bound), an acknowledged broadcast after
 * its caller's `timeout()`. Parley's own requests are the delivery probe's broadcasts
 * (src/realtime/probe.ts); joins, leaves, disconnects and emits wait for no instance.
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

type AdapterFactory = ReturnType<typeof createAdapter>;

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

/**
 * Two kinds of promise the adapter leaves without a rejection handler: the commands whose
 * promise it drops (the PUBLISH of an acknowledged broadcast, the SET storing a disconnected
 * socket's recovery session) and serverCount(), which Socket.IO's broadcast operator reads
 * without a catch. While Redis is away their commands wait for it; closing the
 * connection then (a shutdown) or an error reply rejects them, and an unhandled rejection ends
 * the process (RELIABILITY J6). A dropped command's failure is left to what it serves (a lost
 * recovery session: that client re-fetches over HTTP); a server count Redis could not give is
 * unknown (Infinity), so a request waiting for answers ends at its timeout, as for a silent
 * instance.
 */
function guardRejections(client: RedisClient, factory: AdapterFactory): AdapterFactory {
  for (const name of ['publish', 'set'] as const) {
    const command = (client[name] as (...args: unknown[]) => Promise<unknown>).bind(client);
    (client as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      const reply = command(...args);
      reply.catch(() => {});
      return reply;
    };
  }
  // Socket.IO calls it with `new`: a function, not an arrow.
  return function guarded(nsp) {
    const adapter = factory(nsp);
    const serverCount = adapter.serverCount.bind(adapter);
    adapter.serverCount = () => serverCount().catch(() => Number.POSITIVE_INFINITY);
    return adapter;
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
    adapter: guardRejections(
      client,
      createAdapter(client, {
        streamName: keys.stream,
        channelPrefix: keys.channelPrefix,
        sessionKeyPrefix: keys.sessionPrefix,
      }),
    ),
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
