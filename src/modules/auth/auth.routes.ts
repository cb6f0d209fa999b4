import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { Errors } from '../../errors.ts';
import { clientContext, principalOf } from '../../principal.ts';
import { UserErrors } from '../users/index.ts';
import { AuthErrors, OidcErrors } from './auth.errors.ts';
import {
  AuthResult,
  ChangePasswordBody,
  DeleteAccountBody,
  LoginBody,
  NoContent,
  OidcProviderParams,
  RefreshBody,
  RegisterBody,
  SESSIONS_PAGE_SIZE,
  SessionIdParams,
  SessionPage,
  SessionsQuery,
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

  r.post(
    '/auth/register',
    {
      bodyLimit: AUTH_BODY_LIMIT,
      config: { ...PUBLIC, rateLimit: [{ policy: 'register_ip', by: 'ip' }] },
      schema: {
        operationId: 'register',
        summary: 'Create an account with email and password, and sign in',
        tags,
        body: RegisterBody,
        response: { 201: AuthResult },
        errors: [AuthErrors.AUTH_WEAK_PASSWORD, AuthErrors.AUTH_EMAIL_TAKEN],
      },
    },
    async (request, reply) =>
      reply.status(201).send(await auth.register(request.body, clientContext(request))),
  );

  r.post(
    '/auth/login',
    {
      bodyLimit: AUTH_BODY_LIMIT,
      config: PUBLIC,
      schema: {
        operationId: 'login',
        summary: 'Sign in with email and password',
        description:
          'Every failure is the same 401 AUTH_INVALID_CREDENTIALS; failed attempts are limited per email+IP, per IP and per account (429).',
        tags,
        body: LoginBody,
        response: { 200: AuthResult },
        errors: [AuthErrors.AUTH_INVALID_CREDENTIALS],
      },
    },
    async (request) => auth.login(request.body, clientContext(request)),
  );

  r.get(
    '/auth/oidc/:provider/start',
    {
      config: PUBLIC,
      schema: {
        operationId: 'startOidcSignIn',
        summary: "Start signing in with an OpenID provider (redirects to the provider's authorization page)",
        tags,
        params: OidcProviderParams,
        response: { 302: Type.Null({ description: 'To the provider; the Location header has the URL' }) },
        errors: [OidcErrors.AUTH_OIDC_PROVIDER_UNKNOWN, OidcErrors.AUTH_OIDC_FAILED],
      },
    },
    async (request, reply) => reply.redirect((await oidc.start(request.params.provider)).href, 302),
  );

  r.get(
    '/auth/oidc/:provider/callback',
    {
      config: { ...PUBLIC, rateLimit: [{ policy: 'refresh_ip', by: 'ip' }] },
      schema: {
        operationId: 'finishOidcSignIn',
        summary: 'Finish an OpenID sign-in (the redirect URI the provider sends the browser back to)',
        tags,
        params: OidcProviderParams,
        response: { 200: AuthResult },
        errors: [
          OidcErrors.AUTH_OIDC_PROVIDER_UNKNOWN,
          OidcErrors.AUTH_OIDC_FLOW_INVALID,
          OidcErrors.AUTH_OIDC_FAILED,
          OidcErrors.AUTH_OIDC_EMAIL_UNVERIFIED,
        ],
      },
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
      schema: {
        operationId: 'refresh',
        summary: 'Exchange a refresh token for new tokens (the old one is rotated out)',
        tags,
        body: RefreshBody,
        response: { 200: AuthResult },
        errors: [AuthErrors.AUTH_REFRESH_INVALID],
      },
    },
    async (request) => auth.refresh(request.body.refreshToken, clientContext(request)),
  );

  r.post(
    '/auth/logout',
    {
      schema: {
        operationId: 'logout',
        summary: 'Sign out this session',
        tags,
        response: { 204: NoContent },
      },
    },
    async (request, reply) => {
      await auth.logout(principalOf(request), clientContext(request));
      return reply.status(204).send(null);
    },
  );

  r.post(
    '/auth/logout-all',
    {
      schema: {
        operationId: 'logoutAll',
        summary: 'Sign out every session of this account, this one included',
        tags,
        response: { 204: NoContent },
      },
    },
    async (request, reply) => {
      await auth.logoutAll(principalOf(request), clientContext(request));
      return reply.status(204).send(null);
    },
  );

  r.get(
    '/auth/sessions',
    {
      schema: {
        operationId: 'listSessions',
        summary: "This account's live sessions, newest first",
        tags,
        querystring: SessionsQuery,
        response: { 200: SessionPage },
        errors: [Errors.CURSOR_INVALID],
      },
    },
    async (request) =>
      auth.listSessions(principalOf(request), {
        cursor: request.query.cursor,
        limit: request.query.limit ?? SESSIONS_PAGE_SIZE,
      }),
  );

  r.delete(
    '/auth/sessions/:id',
    {
      schema: {
        operationId: 'revokeSession',
        summary: 'Sign out one session of this account',
        tags,
        params: SessionIdParams,
        response: { 204: NoContent },
        errors: [AuthErrors.AUTH_SESSION_NOT_FOUND],
      },
    },
    async (request, reply) => {
      await auth.revokeSession(principalOf(request), request.params.id, clientContext(request));
      return reply.status(204).send(null);
    },
  );

  r.post(
    '/auth/password',
    {
      bodyLimit: AUTH_BODY_LIMIT,
      // Counted per user before the current password is checked: wrong guesses count too.
      config: { rateLimit: [{ policy: 'password_change_user', by: 'user' }] },
      schema: {
        operationId: 'changePassword',
        summary: 'Change the password; every other session is signed out',
        tags,
        body: ChangePasswordBody,
        response: { 204: NoContent },
        errors: [AuthErrors.AUTH_INVALID_CREDENTIALS, AuthErrors.AUTH_WEAK_PASSWORD],
      },
    },
    async (request, reply) => {
      await auth.changePassword(principalOf(request), request.body, clientContext(request));
      return reply.status(204).send(null);
    },
  );

  // Ending an account lives here, not in the users module: it is account security, and only
  // this module can end sessions (users must not import auth). users decides the row changes.
  r.post(
    '/admin/users/:id/disable',
    {
      schema: {
        operationId: 'disableUser',
        summary: 'Disable an account (admins): every session of it ends at once',
        tags: ['admin'],
        params: UserIdParams,
        response: { 204: NoContent },
        errors: [AuthErrors.AUTH_FORBIDDEN, UserErrors.USER_NOT_FOUND],
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
      schema: {
        operationId: 'deleteMyAccount',
        summary: 'Delete my account (confirmed with the password): it is anonymised and every session ends',
        tags: ['users'],
        body: DeleteAccountBody,
        response: { 204: NoContent },
        errors: [AuthErrors.AUTH_INVALID_CREDENTIALS],
      },
    },
    async (request, reply) => {
      await auth.deleteAccount(principalOf(request), request.body.password, clientContext(request));
      return reply.status(204).send(null);
    },
  );
}
