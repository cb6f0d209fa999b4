import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Errors } from '../../errors.ts';
import { UserErrors, UserIdParams } from '../users/index.ts';
import {
  ONLINE_PAGE_SIZE,
  OnlinePage,
  OnlineQuery,
  PresenceList,
  PresenceQuery,
  UserProfile,
} from './presence.schemas.ts';
import type { PresenceService } from './presence.service.ts';

export default async function presenceRoutes(
  app: FastifyInstance,
  { presence }: { presence: PresenceService },
): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  // Under 'users' in the OpenAPI document, as in SPEC §5 ("Users and presence").
  const tags = ['users'];

  // Here rather than in the users module: the profile is the users module's, the presence this
  // module's, and only this module may depend on the other (it records lastSeenAt through users).
  r.get(
    '/users/:id',
    {
      schema: {
        operationId: 'getUser',
        summary: "A user's public profile and presence",
        tags,
        params: UserIdParams,
        response: { 200: UserProfile },
        errors: [UserErrors.USER_NOT_FOUND],
      },
    },
    async (request) => presence.profile(request.params.id),
  );

  r.get(
    '/presence',
    {
      schema: {
        operationId: 'getPresence',
        summary: 'Online status and last-seen time of up to 100 users',
        tags,
        querystring: PresenceQuery,
        response: { 200: PresenceList },
      },
    },
    async (request) => ({ items: await presence.statuses([...new Set(request.query.ids.split(','))]) }),
  );

  r.get(
    '/presence/online',
    {
      schema: {
        operationId: 'listOnlineUsers',
        summary: 'How many users are online, and one page of them in id order',
        tags,
        querystring: OnlineQuery,
        response: { 200: OnlinePage },
        errors: [Errors.CURSOR_INVALID],
      },
    },
    async (request) => presence.onlinePage(request.query.cursor, request.query.limit ?? ONLINE_PAGE_SIZE),
  );
}
