import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { principalOf } from '../../principal.ts';
import { UserErrors } from './users.errors.ts';
import { Account, UpdateMeBody } from './users.schemas.ts';
import type { UsersService } from './users.service.ts';

export default async function usersRoutes(
  app: FastifyInstance,
  { users }: { users: UsersService },
): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['users'];
  // The account behind a live session can vanish between the access step and the read.
  const errors = [UserErrors.USER_NOT_FOUND];
  // GET /v1/users/:id (the public profile with presence) is the presence module's: it needs both
  // modules, and presence already depends on users (lastSeenAt), so users cannot call presence.

  r.get(
    '/me',
    {
      schema: { operationId: 'getMe', summary: 'My account', tags, response: { 200: Account }, errors },
    },
    (request) => users.getAccount(principalOf(request).userId),
  );

  r.patch(
    '/me',
    {
      schema: {
        operationId: 'updateMe',
        summary: 'Change my display name or avatar',
        tags,
        body: UpdateMeBody,
        response: { 200: Account },
        errors,
      },
    },
    async (request) => {
      const { userId } = principalOf(request);
      const { displayName, avatarUrl } = request.body;
      await users.updateProfile(userId, {
        ...(displayName !== undefined && { display_name: displayName }),
        ...(avatarUrl !== undefined && { avatar_url: avatarUrl }),
      });
      return users.getAccount(userId);
    },
  );
}
