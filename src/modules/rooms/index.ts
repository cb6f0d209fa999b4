/**
 * The rooms module: public rooms and who is in them. Its plugin wires
 * repository → speed-layer index → service → routes and exposes the service
 * as `app.rooms`; this file is the module's whole public surface.
 */
import fp from 'fastify-plugin';
import type { Config } from '../../config.ts';
import { RoomIndex } from './room-index.ts';
import { CursorCodec } from './rooms.cursor.ts';
import { RoomsRepository } from './rooms.repository.ts';
import roomsRoutes from './rooms.routes.ts';
import { RoomsService } from './rooms.service.ts';

export { RoomErrors } from './rooms.errors.ts';
export type { RoomEvent, RoomEventType } from './rooms.events.ts';
export { Room } from './rooms.schemas.ts';
export type { RoomChangeResult, RoomCommand, RoomsService } from './rooms.service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    rooms: RoomsService;
  }
}

export default fp<{ config: Readonly<Config> }>(
  async (app, { config }) => {
    const { db, dialect } = app.sql.primary;
    const repository = new RoomsRepository(db, dialect);
    const rooms = new RoomsService({
      db,
      rooms: repository,
      index: new RoomIndex(app.rankings, repository, app.log.child({ layer: 'room-index' })),
      cache: app.cache,
      cursors: new CursorCodec(config.auth.jwtSecret ?? config.auth.jwtPrivateKey),
      events: app.events,
    });
    app.decorate('rooms', rooms);
    app.addHook('onReady', async () => {
      await rooms.resync().catch((err: unknown) => {
        // Redis unreachable: a ranking left behind heals when its ready mark expires (docs/rooms.md).
        app.log.warn({ err }, 'room index resync failed at start-up');
      });
    });
    await app.register(roomsRoutes, { prefix: '/v1', rooms });
  },
  { name: 'rooms', dependencies: ['db', 'cache', 'rankings', 'authenticate', 'users'] },
);
