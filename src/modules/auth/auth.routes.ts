import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { clientContext, principalOf } from '../../principal.ts';
import {
  AuthResult,
  ChangePasswordBody,
  DeleteAccountBody,
  LoginBody,
  NoContent,
  OidcProviderParams,
  RefreshBody,
  RegisterBody,
  Session,
  SessionIdParams,
  UserIdParams,
} from './auth.schemas.ts';
import type { AuthService } from './auth.service.ts';
import type { OidcService } from './oidc.service.ts';

/** Credentials are small: a 16 KiB body limit keeps hashing-DoS payloads out. */
const AUTH_BODY_LIMIT = 16 * 1024;
const tags = ['auth'];
/** The sign-up and sign-in entry points: the only auth routes reachable without a session. */
const PUBLIC = { public: true } as const;

export default async function authRoutes(
  app: FastifyInstance,
  { auth, oidc, publicUrl }: { auth: AuthService; oidc: OidcService; publicUrl: string },
): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const signedIn = { tags, security: [{ bearer: [] }] };

  r.post(
    '/auth/register',
    {
      bodyLimit: AUTH_BODY_LIMIT,
      config: { ...PUBLIC, rateLimit: [{ policy: 'register_ip', by: 'ip' }] },
      schema: { tags, body: RegisterBody, response: { 201: AuthResult } },
    },
    async (request, reply) =>
      reply.status(201).send(await auth.register(request.body, clientContext(request))),
  );

  r.post(
    '/auth/login',
    {
      bodyLimit: AUTH_BODY_LIMIT,
      config: PUBLIC,
      schema: { tags, body: LoginBody, response: { 200: AuthResult } },
    },
    async (request) => auth.login(request.body, clientContext(request)),
  );

  r.get(
    '/auth/oidc/:provider/start',
    { config: PUBLIC, schema: { tags, params: OidcProviderParams, response: { 302: Type.Null() } } },
    async (request, reply) => reply.redirect((await oidc.start(request.params.provider)).href, 302),
  );

  r.get(
    '/auth/oidc/:provider/callback',
    {
      config: { ...PUBLIC, rateLimit: [{ policy: 'refresh_ip', by: 'ip' }] },
      schema: { tags, params: OidcProviderParams, response: { 200: AuthResult } },
    },
    async (request) => {
      // The URL the provider redirected to, rebuilt from configuration rather than the Host header.
      const url = new URL(request.url, publicUrl);
      return oidc.callback(request.params.provider, url, clientContext(request));
    },
  );

  r.post(
    '/auth/refresh',
    {
      bodyLimit: AUTH_BODY_LIMIT,
      config: { ...PUBLIC, rateLimit: [{ policy: 'refresh_ip', by: 'ip' }] },
      schema: { tags, body: RefreshBody, response: { 200: AuthResult } },
    },
    async (request) => auth.refresh(request.body.refreshToken, clientContext(request)),
  );

  r.post('/auth/logout', { schema: signedIn }, async (request, reply) => {
    await auth.logout(principalOf(request), clientContext(request));
    return reply.status(204).send();
  });

  r.post('/auth/logout-all', { schema: signedIn }, async (request, reply) => {
    await auth.logoutAll(principalOf(request), clientContext(request));
    return reply.status(204).send();
  });

  r.get(
    '/auth/sessions',
    { schema: { ...signedIn, response: { 200: Type.Array(Session) } } },
    async (request) => auth.listSessions(principalOf(request)),
  );

  r.delete(
    '/auth/sessions/:id',
    { schema: { ...signedIn, params: SessionIdParams } },
    async (request, reply) => {
      await auth.revokeSession(principalOf(request), request.params.id, clientContext(request));
      return reply.status(204).send();
    },
  );

  r.post(
    '/auth/password',
    {
      bodyLimit: AUTH_BODY_LIMIT,
      // Counted per user before the current password is checked: wrong guesses count too.
      config: { rateLimit: [{ policy: 'password_change_user', by: 'user' }] },
      schema: { ...signedIn, body: ChangePasswordBody },
    },
    async (request, reply) => {
      await auth.changePassword(principalOf(request), request.body, clientContext(request));
      return reply.status(204).send();
    },
  );

  // Ending an account lives here, not in the users module: it is account security, and only
  // this module can end sessions (users must not import auth). users decides the row changes.
  r.post(
    '/admin/users/:id/disable',
    {
      schema: {
        tags: ['admin'],
        security: [{ bearer: [] }],
        params: UserIdParams,
        response: { 204: NoContent },
      },
    },
    async (request, reply) => {
      await auth.disableUser(principalOf(request), request.params.id, clientContext(request));
      return reply.status(204).send(null);
    },
  );

  r.delete(
    '/me',
    {
      bodyLimit: AUTH_BODY_LIMIT,
      // Confirms with the password: wrong guesses spend the same budget as password changes.
      config: { rateLimit: [{ policy: 'password_change_user', by: 'user' }] },
      schema: { ...signedIn, body: DeleteAccountBody, response: { 204: NoContent } },
    },
    async (request, reply) => {
      await auth.deleteAccount(principalOf(request), request.body.password, clientContext(request));
      return reply.status(204).send(null);
    },
  );
}
