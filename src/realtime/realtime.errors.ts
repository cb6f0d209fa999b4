import { defineErrors } from '../errors.ts';

export const RealtimeErrors = defineErrors({
  REALTIME_EVENT_UNKNOWN: { status: 404, title: 'No such client event' },
  REALTIME_TOO_MANY_SOCKETS: {
    status: 429,
    title: 'Too many open sockets for this user or address on this instance',
  },
});
