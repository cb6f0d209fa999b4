/**
 * Fastify plugin `redis`: the request-path Redis client, its health circuit
 * and the key builder. Without REDIS_URL (embedded mode) there is no client
 * and the circuit stays `absent`; every port then uses its in-process adapter.
 * Start-up never waits on Redis beyond one connect attempt.
 */
import fp from 'fastify-plugin';
import type { Config } from '../../config.ts';
import { GENERATION_RETENTION_MS } from '../cache/store.ts';
import { createRedisClient, type RedisClient } from './client.ts';
import { RedisHealth } from './health.ts';
import { createKeys, type RedisKeys } from './keys.ts';
import { withScripts } from './scripts.ts';
import { RedisTurn } from './turn.ts';

export interface SpeedLayer {
  readonly client: RedisClient | undefined;
  readonly health: RedisHealth;
  readonly keys: RedisKeys;
  /** The request path's per-turn call (session reads and budgets), with the client. */
  readonly turn: RedisTurn | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    redis: SpeedLayer;
  }
}

/** How long start-up waits for Redis before serving degraded (well inside avvio's 10 s plugin timeout). */
const STARTUP_WAIT_MS = 5000;

export default fp<{ config: Config['redis'] }>(
  async (app, { config }) => {
    const log = app.log.child({ layer: 'redis' });
    const client = createRedisClient(config, 'request', 'request');
    const { metrics } = app;
    const [succeeded, failed] = [
      metrics.redisCommandDuration.series('ok'),
      metrics.redisCommandDuration.series('error'),
    ];
    const health = new RedisHealth(client, {
      log,
      onCommand: (seconds, ok) => (ok ? succeeded : failed).observe(seconds),
    });
    metrics.redisAvailable.set(health.available ? 1 : 0);
    health.on('change', (state) => {
      metrics.redisAvailable.set(state === 'closed' ? 1 : 0);
      metrics.redisTransitions.series(state).inc();
    });

    if (client) {
      // Start-up waits a bounded time: a Redis (or a Cluster still agreeing on its slots) that is
      // slow to answer must not keep the server from serving degraded (nor trip avvio's timeout).
      const connected = client.connect().then(
        () => undefined,
        (err: unknown) => err,
      );
      let waited: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        connected,
        new Promise<'slow'>((resolve) => {
          waited = setTimeout(() => resolve('slow'), STARTUP_WAIT_MS);
        }),
      ]).finally(() => clearTimeout(waited));
      if (outcome === 'slow') {
        log.warn(
          `redis not ready after ${STARTUP_WAIT_MS} ms at start-up; serving degraded while it connects`,
        );
      } else if (outcome !== undefined) {
        log.warn(
          { err: outcome },
          'redis unreachable at start-up; serving degraded and retrying in the background',
        );
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
    const turn = client && new RedisTurn(withScripts(client), health, GENERATION_RETENTION_MS);
    app.decorate('redis', { client, health, keys: createKeys(config.keyPrefix), turn });
  },
  { name: 'redis', dependencies: ['metrics'] },
);
