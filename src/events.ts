/**
 * The domain events modules publish after commit, and the delivery requests
 * the real-time gateway carries to clients: the seam between modules and
 * transports (modules never import Socket.IO). Each event is published on the
 * instance where the change committed; the gateway fans out across instances.
 */
import type { EventHub } from './lib/event-hub.ts';

/** Who receives a client event: the union of the sets named, less `exceptUsers`. Conversations add theirs here. */
export interface Audience {
  /** Every socket of these users. */
  users?: readonly string[];
  /** Every socket in these rooms, i.e. of their current members (see `room.sockets`). */
  rooms?: readonly string[];
  /** Users none of whose sockets receive it (e.g. the sender of `typing`). */
  exceptUsers?: readonly string[];
}

// A type alias, not an interface: the hub's map constraint needs an implicit index signature.
export type DomainEvents = {
  /** Sessions ended (logout, logout-all, revocation, password change, disable, delete, refresh reuse). */
  'auth.sessions_revoked': { sessionIds: readonly string[]; reason: string };
  /**
   * Users entered or left a room: their sockets (on every instance) move into or out of the
   * room's audience; `'all'` empties it (a closed room). Published in order with the room's
   * `client.deliver`s, so a joiner hears of their own join and a leaver of their own leaving.
   */
  'room.sockets': { roomId: string; action: 'join' | 'leave'; users: readonly string[] | 'all' };
  /** A server → client event (`{ type, data, at }` on the wire) for an audience. */
  'client.deliver': { type: string; data: unknown; to: Audience };
};

export type Events = EventHub<DomainEvents>;

declare module 'fastify' {
  interface FastifyInstance {
    /** Decorated by app.ts before the modules. */
    events: Events;
  }
}
