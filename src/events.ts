/**
 * The domain events modules publish after commit, and the delivery requests
 * the real-time gateway carries to clients: the seam between modules and
 * transports (modules never import Socket.IO). Each event is published on the
 * instance where the change committed; the gateway fans out across instances.
 */
import type { EventHub } from './lib/event-hub.ts';

/** Who receives a client event. Rooms and conversations add their audiences here. */
export interface Audience {
  /** Every socket of these users. */
  users?: readonly string[];
}

// A type alias, not an interface: the hub's map constraint needs an implicit index signature.
export type DomainEvents = {
  /** Sessions ended (logout, logout-all, revocation, password change, disable, delete, refresh reuse). */
  'auth.sessions_revoked': { sessionIds: readonly string[]; reason: string };
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
