/** TypeBox request/response schemas of the rooms routes, with OpenAPI examples. */
import { type Static, Type } from 'typebox';

const EXAMPLE_ID = '019a7b2e-4c1d-7f00-8a3b-5d6e7f8a9b0c';
const uuid = (description: string) => Type.String({ format: 'uuid', description, examples: [EXAMPLE_ID] });

/** Name and topic bounds, in code points (Ajv counts code points, as SPEC §5 asks). */
export const NAME_MAX = 80;
export const TOPIC_MAX = 280;

export const RoomName = Type.String({
  minLength: 1,
  maxLength: NAME_MAX,
  description: 'Shown as typed (NFC); no control or bidi-override characters, not blank',
  examples: ['Spanish for beginners'],
});
export const RoomTopic = Type.String({
  minLength: 1,
  maxLength: TOPIC_MAX,
  examples: ['Slow conversation, all levels welcome'],
});
/** A BCP 47 tag; checked further with Intl.getCanonicalLocales and stored canonical. */
export const Language = Type.String({
  minLength: 2,
  maxLength: 35,
  pattern: '^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$',
  description: 'BCP 47 language tag, e.g. es or pt-BR',
  examples: ['es'],
});
const MaxParticipants = Type.Integer({ minimum: 2, maximum: 500, examples: [10] });

export const Room = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    slug: Type.String({ examples: ['spanish-for-beginners'] }),
    name: Type.String(),
    topic: Type.Union([Type.String(), Type.Null()]),
    language: Type.String({ examples: ['es'] }),
    visibility: Type.Union([Type.Literal('public'), Type.Literal('unlisted')]),
    status: Type.Union([Type.Literal('active'), Type.Literal('closed')]),
    ownerId: Type.String({ format: 'uuid' }),
    participantCount: Type.Integer({ minimum: 0 }),
    maxParticipants: Type.Integer(),
    createdAt: Type.String({ format: 'date-time' }),
    lastActivityAt: Type.String({ format: 'date-time' }),
  },
  {
    examples: [
      {
        id: EXAMPLE_ID,
        slug: 'spanish-for-beginners',
        name: 'Spanish for beginners',
        topic: 'Slow conversation, all levels welcome',
        language: 'es',
        visibility: 'public',
        status: 'active',
        ownerId: '019a7b2e-0000-7000-8000-000000000001',
        participantCount: 3,
        maxParticipants: 10,
        createdAt: '2026-12-01T10:00:00.000Z',
        lastActivityAt: '2026-12-01T10:05:00.000Z',
      },
    ],
  },
);
export type Room = Static<typeof Room>;

export const CreateRoomBody = Type.Object(
  {
    name: RoomName,
    topic: Type.Optional(RoomTopic),
    language: Language,
    maxParticipants: Type.Optional(MaxParticipants),
    visibility: Type.Optional(Type.Union([Type.Literal('public'), Type.Literal('unlisted')])),
  },
  {
    additionalProperties: false,
    examples: [
      { name: 'Spanish for beginners', topic: 'Slow conversation', language: 'es', maxParticipants: 10 },
    ],
  },
);
export type CreateRoomBody = Static<typeof CreateRoomBody>;

export const UpdateRoomBody = Type.Object(
  {
    name: Type.Optional(RoomName),
    topic: Type.Optional(Type.Union([RoomTopic, Type.Null()])),
    maxParticipants: Type.Optional(MaxParticipants),
  },
  { additionalProperties: false, minProperties: 1, examples: [{ topic: 'Travel stories' }] },
);

export const RoomIdParams = Type.Object({ id: uuid('Room id') }, { additionalProperties: false });
export const MemberParams = Type.Object(
  { id: uuid('Room id'), userId: uuid('User id') },
  { additionalProperties: false },
);
/**
 * Slugs are lowercase ASCII words joined by single hyphens; a room id (UUID) matches too.
 * Named `id` like the other room paths: one path template per position, so the OpenAPI
 * document has no two paths that differ only by a parameter name.
 */
export const IdOrSlugParams = Type.Object(
  {
    id: Type.String({
      minLength: 1,
      maxLength: 80,
      pattern: '^[a-z0-9]+(-[a-z0-9]+)*$',
      description: 'Room id or slug',
      examples: ['spanish-for-beginners'],
    }),
  },
  { additionalProperties: false },
);
export const UserIdBody = Type.Object(
  { userId: uuid('The member concerned') },
  { additionalProperties: false, examples: [{ userId: EXAMPLE_ID }] },
);

const Cursor = Type.String({ minLength: 1, maxLength: 512, description: 'Opaque; from nextCursor' });
const Limit = Type.Integer({ minimum: 1, maximum: 100, default: 20 });

export const ListRoomsQuery = Type.Object(
  { language: Type.Optional(Language), cursor: Type.Optional(Cursor), limit: Limit },
  { additionalProperties: false },
);
export const PageQuery = Type.Object(
  { cursor: Type.Optional(Cursor), limit: Limit },
  { additionalProperties: false },
);

export const RoomPage = Type.Object({
  items: Type.Array(Room),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});
export type RoomPage = Static<typeof RoomPage>;

export const LanguageCounts = Type.Object(
  { items: Type.Array(Type.Object({ language: Type.String(), rooms: Type.Integer({ minimum: 1 }) })) },
  { examples: [{ items: [{ language: 'es', rooms: 12 }] }] },
);
export type LanguageCounts = Static<typeof LanguageCounts>;

export const Participant = Type.Object({
  userId: Type.String({ format: 'uuid' }),
  role: Type.Union([Type.Literal('owner'), Type.Literal('moderator'), Type.Literal('member')]),
  joinedAt: Type.String({ format: 'date-time' }),
});
export const ParticipantPage = Type.Object({
  items: Type.Array(Participant),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});
export type ParticipantPage = Static<typeof ParticipantPage>;

/** RFC 9457 body as rendered by src/http/errors.ts. */
const Problem = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  code: Type.String(),
  detail: Type.Optional(Type.String()),
  instance: Type.Optional(Type.String()),
  requestId: Type.Optional(Type.String()),
  errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
});

/** An error response of an operation, documented with the codes it can carry. */
export function problem(description: string) {
  return { description, content: { 'application/problem+json': { schema: Problem } } };
}
