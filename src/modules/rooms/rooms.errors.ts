import { defineErrors } from '../../errors.ts';

export const RoomErrors = defineErrors({
  ROOM_NOT_FOUND: { status: 404, title: 'No such room' },
  ROOM_FORBIDDEN: { status: 403, title: 'Your role in this room does not allow this' },
  ROOM_KICKED: { status: 403, title: 'You were removed from this room recently; try again later' },
  ROOM_NOT_MEMBER: { status: 409, title: 'The user is not in this room' },
  ROOM_INVALID_TARGET: { status: 409, title: 'This action cannot be applied to this member' },
  ROOM_FULL: { status: 409, title: 'The room is at capacity' },
  ROOM_CAPACITY_BELOW_COUNT: {
    status: 409,
    title: 'The new capacity is below the number of people in the room',
  },
  ROOM_CLOSED: { status: 410, title: 'The room is closed' },
});
