/**
 * The presence module: who is online (on any instance) and when users were
 * last seen. Its plugin wires the PresenceStore (infra/presence), the service
 * and the routes, and exposes the service as `app.presence` — which the
 * real-time gateway calls as sockets come, heartbeat and go. This file is the
 * module's whole public surface.
 */
import fp from 'fastify-plugin';
import presenceRoutes from './presence.routes.ts';
import { PresenceService } from './presence.service.ts';

export type { PresenceService } from './presence.service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    presence: PresenceService;
  }
}

export default fp<{ ttlMs: number; ownerGraceMs: number }>(
  async (app, { ttlMs, ownerGraceMs }) => {
    const presence = new PresenceService({
      store: app.presenceStore,
      users: app.users,
      events: app.events,
      ttlMs,
      currentRoomsOf: (userIds) => app.rooms.currentRoomIds(userIds),
      graceMs: ownerGraceMs,
      away: (userIds) => app.rooms.ownersAway(userIds),
      log: app.log.child({ module: 'presence' }),
    });
    presence.start();
    app.addHook('onClose', () => presence.stop());
    app.decorate('presence', presence);
    await app.register(presenceRoutes, { prefix: '/v1', presence });
  },
  { name: 'presence', dependencies: ['presence-store', 'users', 'rooms', 'authenticate'] },
);
