/** HTTP for rooms: validated input, one service call, the result. Events go to the real-time layer later. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { principalOf } from '../../principal.ts';
import { checkLanguageQuery, checkRoomInput } from './rooms.input.ts';
import {
  CreateRoomBody,
  IdOrSlugParams,
  LanguageCounts,
  ListRoomsQuery,
  MemberParams,
  PageQuery,
  ParticipantPage,
  problem,
  Room,
  RoomIdParams,
  RoomPage,
  UpdateRoomBody,
  UserIdBody,
} from './rooms.schemas.ts';
import type { RoomsService } from './rooms.service.ts';

const done = Type.Null({ description: 'Done; no body' });

/** The error responses every authenticated operation can give. */
const common = {
  400: problem('VALIDATION_FAILED: a field breaks the schema or the text/language policy'),
  401: problem('AUTH_UNAUTHENTICATED: no valid access token'),
  429: problem('RATE_LIMITED: over a request budget; see Retry-After'),
  503: problem('SERVICE_UNAVAILABLE: the database is unreachable or the room stayed busy; retry'),
};
const notFound = problem('ROOM_NOT_FOUND: no such room (or an unlisted one looked up by slug)');
const forbidden = problem('ROOM_FORBIDDEN: your role in this room does not allow this');
const closed = problem('ROOM_CLOSED: the room is closed');

export default async function roomsRoutes(
  app: FastifyInstance,
  { rooms }: { rooms: RoomsService },
): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const op = (operationId: string, summary: string) => ({
    operationId,
    summary,
    tags: ['rooms'],
    security: [{ bearer: [] }],
  });

  r.post(
    '/rooms',
    {
      config: { rateLimit: [{ policy: 'room_create_user', by: 'user' }] },
      schema: {
        ...op('createRoom', 'Create a room; the creator becomes its owner (leaving their current room)'),
        body: CreateRoomBody,
        response: { 201: Room, ...common },
      },
    },
    async (request, reply) => {
      const body = checkRoomInput(request.body);
      const { room } = await rooms.change(principalOf(request).userId, { type: 'create', ...body });
      return reply.status(201).send(room);
    },
  );

  r.get(
    '/rooms',
    {
      schema: {
        ...op('listRooms', 'Active public rooms, most participants first, then newest'),
        querystring: ListRoomsQuery,
        response: { 200: RoomPage, ...common, 400: problem('VALIDATION_FAILED or CURSOR_INVALID') },
      },
    },
    async (request) => {
      const { language, cursor, limit } = request.query;
      return rooms.list(language === undefined ? undefined : checkLanguageQuery(language), limit, cursor);
    },
  );

  r.get(
    '/rooms/languages',
    {
      schema: {
        ...op('listRoomLanguages', 'Active public rooms per language'),
        response: { 200: LanguageCounts, ...common },
      },
    },
    async () => rooms.languages(),
  );

  r.get(
    '/rooms/:id',
    {
      schema: {
        ...op('getRoom', 'A room by id or slug'),
        params: IdOrSlugParams,
        response: { 200: Room, ...common, 404: notFound },
      },
    },
    async (request) => rooms.get(request.params.id, principalOf(request).userId),
  );

  r.patch(
    '/rooms/:id',
    {
      schema: {
        ...op('updateRoom', 'Change name, topic or capacity (owner or moderator)'),
        params: RoomIdParams,
        body: UpdateRoomBody,
        response: {
          200: Room,
          ...common,
          403: forbidden,
          404: notFound,
          409: problem('ROOM_CAPACITY_BELOW_COUNT: more people are in the room than the new capacity'),
          410: closed,
        },
      },
    },
    async (request) => {
      const body = checkRoomInput(request.body);
      const { room } = await rooms.change(principalOf(request).userId, {
        type: 'update',
        roomId: request.params.id,
        ...body,
      });
      return room;
    },
  );

  r.delete(
    '/rooms/:id',
    {
      schema: {
        ...op('closeRoom', 'Close the room (owner); its members are moved out'),
        params: RoomIdParams,
        response: { 204: done, ...common, 403: forbidden, 404: notFound },
      },
    },
    async (request, reply) => {
      await rooms.change(principalOf(request).userId, { type: 'close', roomId: request.params.id });
      return reply.status(204).send(null);
    },
  );

  r.post(
    '/rooms/:id/join',
    {
      schema: {
        ...op('joinRoom', 'Join the room, leaving your current one'),
        params: RoomIdParams,
        response: {
          200: Room,
          ...common,
          403: problem('ROOM_KICKED: removed from this room less than 10 minutes ago; see Retry-After'),
          404: notFound,
          409: problem('ROOM_FULL: the room is at capacity'),
          410: closed,
        },
      },
    },
    async (request) =>
      (await rooms.change(principalOf(request).userId, { type: 'join', roomId: request.params.id })).room,
  );

  r.post(
    '/rooms/:id/leave',
    {
      schema: {
        ...op('leaveRoom', 'Leave the room'),
        params: RoomIdParams,
        response: {
          204: done,
          ...common,
          404: notFound,
          409: problem('ROOM_NOT_MEMBER: you are not in this room'),
        },
      },
    },
    async (request, reply) => {
      await rooms.change(principalOf(request).userId, { type: 'leave', roomId: request.params.id });
      return reply.status(204).send(null);
    },
  );

  const memberAction = (
    path: string,
    type: 'kick' | 'transfer' | 'promote',
    operationId: string,
    summary: string,
  ) =>
    r.post(
      path,
      {
        schema: {
          ...op(operationId, summary),
          params: RoomIdParams,
          body: UserIdBody,
          response: {
            204: done,
            ...common,
            403: forbidden,
            404: notFound,
            409: problem('ROOM_NOT_MEMBER (the user is not in the room) or ROOM_INVALID_TARGET (yourself)'),
            410: closed,
          },
        },
      },
      async (request, reply) => {
        await rooms.change(principalOf(request).userId, {
          type,
          roomId: request.params.id,
          userId: request.body.userId,
        });
        return reply.status(204).send(null);
      },
    );
  memberAction(
    '/rooms/:id/kick',
    'kick',
    'kickRoomMember',
    'Remove a member (owner or moderator); no rejoin for 10 minutes',
  );
  memberAction(
    '/rooms/:id/transfer',
    'transfer',
    'transferRoom',
    'Make another member the owner (owner); you become a moderator',
  );
  memberAction('/rooms/:id/moderators', 'promote', 'addRoomModerator', 'Make a member a moderator (owner)');

  r.delete(
    '/rooms/:id/moderators/:userId',
    {
      schema: {
        ...op('removeRoomModerator', 'Make a moderator a plain member again (owner)'),
        params: MemberParams,
        response: {
          204: done,
          ...common,
          403: forbidden,
          404: notFound,
          409: problem('ROOM_NOT_MEMBER or ROOM_INVALID_TARGET'),
          410: closed,
        },
      },
    },
    async (request, reply) => {
      await rooms.change(principalOf(request).userId, {
        type: 'demote',
        roomId: request.params.id,
        userId: request.params.userId,
      });
      return reply.status(204).send(null);
    },
  );

  r.get(
    '/rooms/:id/participants',
    {
      schema: {
        ...op('listRoomParticipants', 'Current members in joining order'),
        params: RoomIdParams,
        querystring: PageQuery,
        response: {
          200: ParticipantPage,
          ...common,
          400: problem('VALIDATION_FAILED or CURSOR_INVALID'),
          404: notFound,
        },
      },
    },
    async (request) =>
      rooms.participants(
        request.params.id,
        principalOf(request).userId,
        request.query.limit,
        request.query.cursor,
      ),
  );

  r.get(
    '/me/room',
    {
      schema: {
        ...op('getMyRoom', 'The room you are in, or 204 when none'),
        response: { 200: Room, 204: done, ...common },
      },
    },
    async (request, reply) => {
      const room = await rooms.currentRoom(principalOf(request).userId);
      return room ?? reply.status(204).send(null);
    },
  );
}
