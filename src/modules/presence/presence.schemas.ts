import { type Static, Type } from 'typebox';
import { PublicProfile } from '../users/index.ts';

const strict = { additionalProperties: false };
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
export const PRESENCE_IDS_MAX = 100;
export const ONLINE_PAGE_SIZE = 50;

export const PresenceQuery = Type.Object(
  {
    ids: Type.String({
      pattern: `^${UUID}(,${UUID}){0,${PRESENCE_IDS_MAX - 1}}$`,
      maxLength: 37 * PRESENCE_IDS_MAX,
      description: `Comma-separated user ids, at most ${PRESENCE_IDS_MAX}`,
    }),
  },
  strict,
);

export const OnlineQuery = Type.Object(
  {
    cursor: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: '`nextCursor` of the previous page' }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: ONLINE_PAGE_SIZE })),
  },
  strict,
);

/** A user's presence, as `GET /v1/users/:id` carries it. */
export const PresenceState = Type.Object({
  status: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
  lastSeenAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'When the user last went offline; null while online or if never seen',
  }),
});
export type PresenceState = Static<typeof PresenceState>;

/** One user's presence in `GET /v1/presence`: the same state, with whose it is. */
export const Presence = Type.Object({
  userId: Type.String({ format: 'uuid' }),
  ...PresenceState.properties,
});
export type Presence = Static<typeof Presence>;

/** `GET /v1/users/:id`: the users module's public profile and the presence this module knows. */
export const UserProfile = Type.Object({ ...PublicProfile.properties, presence: PresenceState });
export type UserProfile = Static<typeof UserProfile>;

export const PresenceList = Type.Object({ items: Type.Array(Presence) });

export const OnlinePage = Type.Object({
  count: Type.Integer({ description: 'Users online now, on every instance' }),
  items: Type.Array(Type.Object({ userId: Type.String({ format: 'uuid' }) })),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});
export type OnlinePage = Static<typeof OnlinePage>;
