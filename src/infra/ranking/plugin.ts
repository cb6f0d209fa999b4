/**
 * Fastify plugin `rankings`: ranked sets on Redis in services mode, in process
 * memory in embedded mode. Decorates `app.rankings`.
 */
import fp from 'fastify-plugin';
import { withScripts } from '../redis/scripts.ts';
import { MemoryRankings } from './memory-rankings.ts';
import type { Rankings } from './ranking.ts';
import { RedisRankings } from './redis-rankings.ts';

declare module 'fastify' {
  interface FastifyInstance {
    rankings: Rankings;
  }
}

export default fp(
  async (app) => {
    const { client, health, keys } = app.redis;
    const rankings: Rankings = client
      ? new RedisRankings({
          client: withScripts(client),
          health,
          keys,
          log: app.log.child({ layer: 'rankings' }),
        })
      : new MemoryRankings();
    app.decorate('rankings', rankings);
  },
  { name: 'rankings', dependencies: ['redis'] },
);
