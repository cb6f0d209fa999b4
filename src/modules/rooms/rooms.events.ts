/**
 * The domain events of rooms: what a committed change did, in order. Every
 * state change goes through `RoomsService.change`, which returns these once
 * the transaction has committed, and publishes them on the event hub
 * (src/events.ts) for the transports; nothing here knows about sockets.
 */
import type { Events } from '../../events.ts';
import type { RoomRole } from '../../infra/db/schema.ts';

export type RoomEvent =
  | { type: 'room_created'; roomId: string; ownerId: string }
  | { type: 'member_joined'; roomId: string; userId: string; role: RoomRole }
  /** `moved`: the user joined or created another room. */
  | { type: 'member_left'; roomId: string; userId: string; reason: 'left' | 'moved' }
  | { type: 'member_kicked'; roomId: string; userId: string; by: string }
  | { type: 'member_role_changed'; roomId: string; userId: string; role: 'moderator' | 'member' }
  | { type: 'owner_changed'; roomId: string; ownerId: string; previousOwnerId: string }
  | {
      type: 'room_updated';
      roomId: string;
      changes: { name?: string; topic?: string | null; maxParticipants?: number };
    }
  /** `closed`: by its owner (members listed were moved out); `empty`: the last member left. */
  | { type: 'room_closed'; roomId: string; reason: 'closed' | 'empty'; memberIds: string[] };

export type RoomEventType = RoomEvent['type'];

/**
 * Publishes a committed change's events on the hub (call after commit): the
 * one place that maps room events to client events (docs/realtime.md) and to
 * the moves of members' sockets. A joiner's sockets enter the room before its
 * `room:member_joined`; a leaver's (or kicked user's) leave after their
 * `room:member_left` / `room:member_kicked`, and a closed room empties after
 * `room:closed`, so each hears of their own move. `room_created` has nobody to
 * tell yet (the owner's join follows); role changes have no client event (SPEC §6).
 */
export function publishRoomEvents(hub: Events, events: readonly RoomEvent[]): void {
  const deliver = (type: string, roomId: string, data: object) =>
    hub.publish('client.deliver', { type, data: { roomId, ...data }, to: { rooms: [roomId] } });
  for (const e of events) {
    switch (e.type) {
      case 'member_joined':
        hub.publish('room.sockets', { roomId: e.roomId, action: 'join', users: [e.userId] });
        deliver('room:member_joined', e.roomId, { userId: e.userId, role: e.role });
        break;
      case 'member_left':
        deliver('room:member_left', e.roomId, { userId: e.userId, reason: e.reason });
        hub.publish('room.sockets', { roomId: e.roomId, action: 'leave', users: [e.userId] });
        break;
      case 'member_kicked':
        deliver('room:member_kicked', e.roomId, { userId: e.userId, by: e.by });
        hub.publish('room.sockets', { roomId: e.roomId, action: 'leave', users: [e.userId] });
        break;
      case 'owner_changed':
        deliver('room:owner_changed', e.roomId, { ownerId: e.ownerId, previousOwnerId: e.previousOwnerId });
        break;
      case 'room_updated':
        deliver('room:updated', e.roomId, { changes: e.changes });
        break;
      case 'room_closed':
        deliver('room:closed', e.roomId, { reason: e.reason });
        hub.publish('room.sockets', { roomId: e.roomId, action: 'leave', users: 'all' });
        break;
      case 'room_created':
      case 'member_role_changed':
        break;
    }
  }
}
