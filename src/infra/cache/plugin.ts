/**
 * Fastify plugin `cache`: the two-tier cache over Redis (L1 + Redis + bus) in
 * services mode, or over process memory in embedded mode. Decorates `app.cache`.
 */
import fp from 'fastify-plugin';
import type { Config } from '../../config.ts';
import { BoundCounter } from '../metrics.ts';
import { createRedisClient } from '../redis/client.ts';
import { withScripts } from '../redis/scripts.ts';
import { RedisCacheBus } from './bus.ts';
import { Cache } from './cache.ts';
import { MemoryCacheStore } from './memory-store.ts';
import { RedisCacheStore } from './redis-store.ts';

declare module 'fastify' {
  interface FastifyInstance {
    cache: Cache;
  }
}

export default fp<{ config: Config['redis'] }>(
  async (app, { config }) => {
    const { keys, client, health, turn } = app.redis;
    const registers = [app.metrics.registry];
    const metrics = {
      requests: new BoundCounter({
        name: 'parley_cache_requests_total',
        help: 'Cache lookups by namespace and result (l1_hit, l2_hit, miss, stale_served)',
        labelNames: ['namespace', 'result'],
        registers,
      }),
      loads: new BoundCounter({
        name: 'parley_cache_loads_total',
        help: 'Loader (SQL) calls made on cache misses, by namespace and outcome',
        labelNames: ['namespace', 'outcome'],
        registers,
      }),
    };
    const common = {
      entryKey: keys.cache.entry,
      lockKey: keys.cache.lock,
      metrics,
      log: app.log.child({ layer: 'cache' }),
    };

    let cache: Cache;
    if (client && turn) {
      const subscriber = createRedisClient(config, 'worker', 'cache-bus');
      subscriber?.on('error', () => {}); // reported through the shared health circuit
      const bus = subscriber ? new RedisCacheBus(client, subscriber, keys.cache.bus) : undefined;
      cache = new Cache({
        ...common,
        store: new RedisCacheStore(withScripts(client), turn, keys.cache.collection),
        health,
        bus,
      });
      app.addHook('onClose', async () => bus?.close());
    } else {
      cache = new Cache({ ...common, store: new MemoryCacheStore() });
    }
    await cache.start();
    app.decorate('cache', cache);
  },
  { name: 'cache', dependencies: ['redis', 'metrics'] },
);
