import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Errors } from '../../errors.ts';
import {
  ONLINE_PAGE_SIZE,
  OnlinePage,
  OnlineQuery,
  PresenceList,
  PresenceQuery,
} from './presence.schemas.ts';
import type { PresenceService } from './presence.service.ts';

export default async function presenceRoutes(
  app: FastifyInstance,
  { presence }: { presence: PresenceService },
): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  // Under 'users' in the OpenAPI document, as in SPEC §5 ("Users and presence").
  const tags = ['users'];

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
