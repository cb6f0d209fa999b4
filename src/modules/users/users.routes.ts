import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { principalOf } from '../../principal.ts';
import { Account, PublicProfile, UpdateMeBody, UserIdParams } from './users.schemas.ts';
import type { UsersService } from './users.service.ts';

export default async function usersRoutes(
  app: FastifyInstance,
  { users }: { users: UsersService },
): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const schema = { tags: ['users'], security: [{ bearer: [] }] };

  r.get('/me', { schema: { ...schema, response: { 200: Account } } }, async (request) =>
    users.getAccount(principalOf(request).userId),
  );

  r.patch(
    '/me',
    { schema: { ...schema, body: UpdateMeBody, response: { 200: Account } } },
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

  r.get(
    '/users/:id',
    { schema: { ...schema, params: UserIdParams, response: { 200: PublicProfile } } },
    async (request) => users.getPublicProfile(request.params.id),
  );
}
