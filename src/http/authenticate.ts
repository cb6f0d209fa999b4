/**
 * Bearer-token authentication for routes that declare
 * `config: { authenticated: true }`. The token is read from the Authorization
 * header only (never a query string or cookie); the auth service verifies it
 * (signature, claims, the session's live state, the per-user API budget, whose
 * RateLimit headers the answer carries) and the principal lands on
 * `request.principal`. A request whose authentication fails (401) spends from
 * the per-IP API budget instead (http/rate-limit.ts), so a flood of bad tokens
 * from one address runs into 429.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../errors.ts';
import { AuthErrors } from '../modules/auth/auth.errors.ts';
import type { AuthService, ClientContext, Principal } from '../modules/auth/auth.service.ts';
import { settle } from './rate-limit.ts';

declare module 'fastify' {
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
  app.addHook('onRequest', async (request, reply) => {
    if (!request.routeOptions.config.authenticated) return;
    try {
      const match = BEARER.exec(request.headers.authorization ?? '');
      if (!match) throw new AppError(AuthErrors.AUTH_UNAUTHENTICATED);
      const { principal, budget } = await auth.authenticate(match[1] as string);
      request.principal = principal;
      if (budget) settle([budget], reply);
    } catch (err) {
      // Only a rejected token is anonymous traffic; a spent user budget or an outage is not.
      if (err instanceof AppError && err.code === AuthErrors.AUTH_UNAUTHENTICATED) {
        await app.spendIpBudget(request, reply);
      }
      throw err;
    }
  });
}

export default fp(authenticate, { name: 'authenticate', dependencies: ['http-rate-limit'] });
