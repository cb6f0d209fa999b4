import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Account } from '../auth/auth.schemas.ts';
import { PublicProfile, UpdateMeBody, UserIdParams } from './users.schemas.ts';
import type { UsersService } from './users.service.ts';

export default async function usersRoutes(
  app: FastifyInstance,
  { users }: { users: UsersService },
): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const schema = { tags: ['users'], security: [{ bearer: [] }] };
  const config = { authenticated: true };

  r.get('/me', { config, schema: { ...schema, response: { 200: Account } } }, async (request) =>
    users.getAccount(request.principal.userId),
  );

  r.patch(
    '/me',
    { config, schema: { ...schema, body: UpdateMeBody, response: { 200: Account } } },
    async (request) => {
      const { displayName, avatarUrl } = request.body;
      await users.updateProfile(request.principal.userId, {
        ...(displayName !== undefined && { display_name: displayName }),
        ...(avatarUrl !== undefined && { avatar_url: avatarUrl }),
      });
      return users.getAccount(request.principal.userId);
    },
  );

  r.get(
    '/users/:id',
    {
      config,
      schema: { ...schema, params: UserIdParams, response: { 200: PublicProfile } },
    },
    async (request) => users.getPublicProfile(request.params.id),
  );
}
