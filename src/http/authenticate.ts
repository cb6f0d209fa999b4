/**
 * Bearer-token authentication for routes that opt in with
 * `onRequest: app.authenticate`. The token is read from the Authorization
 * header only (never a query string or cookie); the auth service verifies it
 * (signature, claims, the session's live state, the per-user API budget) and
 * the principal lands on `request.principal`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../errors.ts';
import { AuthErrors } from '../modules/auth/auth.errors.ts';
import type { AuthService, ClientContext, Principal } from '../modules/auth/auth.service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    authenticate: (request: FastifyRequest) => Promise<void>;
  }
  interface FastifyRequest {
    principal: Principal;
  }
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;

/** The client facts recorded with sessions and audit events. */
export function clientContext(request: FastifyRequest): ClientContext {
  const agent = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof agent === 'string' ? agent : undefined };
}

async function authenticate(app: FastifyInstance, { auth }: { auth: AuthService }): Promise<void> {
  app.decorateRequest('principal', null as unknown as Principal);
  app.decorate('authenticate', async (request: FastifyRequest) => {
    const match = BEARER.exec(request.headers.authorization ?? '');
    if (!match) throw new AppError(AuthErrors.AUTH_UNAUTHENTICATED);
    request.principal = await auth.authenticate(match[1] as string);
  });
}

export default fp(authenticate, { name: 'authenticate' });
