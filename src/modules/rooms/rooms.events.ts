/**
 * The domain events of rooms: what a committed change did, in order. Every
 * state change goes through `RoomsService.change`, which returns these once
 * the transaction has committed, so a transport (the real-time gateway) only
 * has to publish them; nothing here knows about sockets.
 */
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
