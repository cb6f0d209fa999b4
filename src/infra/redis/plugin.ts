/**
 * Fastify plugin `redis`: the request-path Redis client, its health circuit
 * and the key builder. Without REDIS_URL (embedded mode) there is no client
 * and the circuit stays `absent`; every port then uses its in-process adapter.
 * Start-up never waits on Redis beyond one connect attempt.
 */
import fp from 'fastify-plugin';
import type { Config } from '../../config.ts';
import { createRedisClient, type RedisClient } from './client.ts';
import { RedisHealth } from './health.ts';
import { createKeys, type RedisKeys } from './keys.ts';

export interface SpeedLayer {
  readonly client: RedisClient | undefined;
  readonly health: RedisHealth;
  readonly keys: RedisKeys;
}

declare module 'fastify' {
  interface FastifyInstance {
    redis: SpeedLayer;
  }
}

export default fp<{ config: Config['redis'] }>(
  async (app, { config }) => {
    const log = app.log.child({ layer: 'redis' });
    const client = createRedisClient(config, 'request', 'request');
    const { metrics } = app;
    const [succeeded, failed] = [
      metrics.redisCommandDuration.labels({ outcome: 'ok' }),
      metrics.redisCommandDuration.labels({ outcome: 'error' }),
    ];
    const health = new RedisHealth(client, {
      log,
      onCommand: (seconds, ok) => (ok ? succeeded : failed).observe(seconds),
    });
    metrics.redisAvailable.set(health.available ? 1 : 0);
    health.on('change', (state) => {
      metrics.redisAvailable.set(state === 'closed' ? 1 : 0);
      metrics.redisTransitions.inc({ to: state });
    });

    if (client) {
      try {
        await client.connect();
      } catch (err) {
        log.warn({ err }, 'redis unreachable at start-up; serving degraded and retrying in the background');
      }
    } else {
      log.info('REDIS_URL not set: running with the in-process speed layer (embedded mode)');
    }

    app.addHook('onClose', async () => {
      health.stop();
      if (!client) return;
      // quit() waits for replies; a dead server would make it hang, so bound it.
      await Promise.race([client.quit().catch(() => {}), new Promise((r) => setTimeout(r, 1000).unref())]);
      client.disconnect();
    });
    app.decorate('redis', { client, health, keys: createKeys(config.keyPrefix) });
  },
  { name: 'redis', dependencies: ['metrics'] },
);
