/**
 * The cache bus's subscriber across reconnects, on a test-owned redis-server.
 * An unhandled rejection ends a Node process, so a reconnect racing a
 * shutdown must not leave one behind.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.ts';
import { RedisCacheBus } from '../../src/infra/cache/bus.ts';
import { createRedisClient } from '../../src/infra/redis/client.ts';
import { servicesSkipReason } from '../helpers/backends.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { TcpProxy } from '../helpers/tcp-proxy.ts';
import { waitFor } from '../helpers/wait.ts';

describe('cache bus subscriber', { skip: servicesSkipReason }, () => {
  let redis: RedisServer;
  let admin: Redis;
  before(async () => {
    redis = await RedisServer.start();
    admin = new Redis(redis.url);
  });
  after(async () => {
    admin.disconnect();
    await redis.stop();
  });

  function subscriberClient(port = redis.port) {
    const url = `redis://127.0.0.1:${port}`;
    const client = createRedisClient(loadConfig({ REDIS_URL: url }).redis, 'worker', 'bus-test');
    assert.ok(client);
    client.on('error', () => {});
    return client;
  }

  it('re-subscribes after its connection is killed and hears messages again', async () => {
    const subscriber = subscriberClient();
    const bus = new RedisCacheBus(admin, subscriber, 'bus-test');
    const heard: string[][] = [];
    let gaps = 0;
    await bus.subscribe(
      (keys) => heard.push(keys),
      () => {
        gaps += 1;
      },
    );
    await waitFor(() => gaps > 0, { what: 'first subscription' });
    const before = gaps;
    await admin.client('KILL', 'TYPE', 'pubsub');
    await waitFor(() => gaps > before, { what: 'resubscribed after the kill' });
    await admin.publish('bus-test', JSON.stringify({ from: 'other', keys: ['k1'] }));
    await waitFor(() => heard.length === 1, { what: 'message after reconnect' });
    assert.deepEqual(heard, [['k1']]);
    await bus.close();
  });

  it('closing while its re-subscription is unanswered leaves no unhandled rejection', async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    const proxy = await TcpProxy.start(redis.port);
    try {
      const subscriber = subscriberClient(proxy.port);
      const bus = new RedisCacheBus(admin, subscriber, 'bus-test');
      let gaps = 0;
      await bus.subscribe(
        () => {},
        () => {
          gaps += 1;
        },
      );
      await waitFor(() => gaps > 0, { what: 'first subscription' });
      // On reconnect, hold every reply and shut down: a SUBSCRIBE is then in flight when the
      // connection closes, and its rejection must have a handler.
      const closedOnReady = new Promise<void>((resolve) =>
        subscriber.once('ready', () => {
          proxy.pause();
          void bus.close();
          resolve();
        }),
      );
      await admin.client('KILL', 'TYPE', 'pubsub');
      await closedOnReady;
      await proxy.cut();
      await waitFor(() => subscriber.status === 'end', { what: 'subscriber closed' });
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(rejections, []);
    } finally {
      process.off('unhandledRejection', onRejection);
      await proxy.close();
    }
  });
});
