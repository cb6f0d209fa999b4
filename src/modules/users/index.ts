/**
 * The users module: the one owner of the users table (accounts, profiles, the
 * email policy). Its plugin wires repository → service → routes and exposes
 * the service as `app.users`; this file is the module's whole public surface.
 */
import fp from 'fastify-plugin';
import { UsersRepository } from './users.repository.ts';
import usersRoutes from './users.routes.ts';
import { UsersService } from './users.service.ts';

export { normalizeEmail } from './emails.ts';
export { UserErrors } from './users.errors.ts';
export type { UserRow } from './users.repository.ts';
export { Account, DisplayName, PublicProfile, UserIdParams } from './users.schemas.ts';
export { displayNameOr, type NewUser, type UsersService } from './users.service.ts';
export { accountView } from './users.view.ts';

declare module 'fastify' {
  interface FastifyInstance {
    users: UsersService;
  }
}

export default fp(
  async (app) => {
    const { db } = app.sql.primary;
    const users = new UsersService({ db, users: new UsersRepository(db), cache: app.cache });
    app.decorate('users', users);
    await app.register(usersRoutes, { prefix: '/v1', users });
  },
  { name: 'users', dependencies: ['db', 'cache', 'authenticate'] },
);
