/**
 * Fastify plugin `presence-store`: the PresenceStore for this deployment —
 * Redis (with this instance's own view as the fallback) in services mode,
 * memory in embedded mode. Decorates `app.presenceStore`.
 */
import fp from 'fastify-plugin';
import { withScripts } from '../redis/scripts.ts';
import { MemoryPresenceStore } from './memory.ts';
import { RedisPresenceStore } from './redis.ts';
import type { PresenceStore } from './store.ts';

declare module 'fastify' {
  interface FastifyInstance {
    presenceStore: PresenceStore;
  }
}

export default fp(
  async (app) => {
    const { client, health, keys } = app.redis;
    const local = new MemoryPresenceStore();
    const store: PresenceStore = client
      ? new RedisPresenceStore({
          client: withScripts(client),
          health,
          keys: keys.presence,
          local,
          log: app.log.child({ layer: 'presence' }),
        })
      : local;
    app.decorate('presenceStore', store);
  },
  { name: 'presence-store', dependencies: ['redis'] },
);
