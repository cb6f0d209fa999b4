/**
 * Who is asking, and from where: the principal that authentication (src/http/authenticate.ts
 * for HTTP, the socket handshake for real time) attaches to a request. It sits
 * beside config and errors because every module reads it and none owns it —
 * the auth module decides sessions, not how transports carry them.
 */
import type { FastifyRequest } from 'fastify';

export interface Principal {
  userId: string;
  sessionId: string;
  role: 'user' | 'admin';
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set on every authenticated route; absent on public ones. */
    principal: Principal | undefined;
  }
}

/**
 * The request's principal. Every /v1 route is authenticated unless it declares
 * itself public, so only a public route can get here without one: a bug, not
 * a client error.
 */
export function principalOf(request: FastifyRequest): Principal {
  const { principal } = request;
  if (!principal) throw new Error(`${request.routeOptions.url} is public but reads the principal`);
  return principal;
}

/** The client facts recorded with sessions and audit events. */
export interface ClientContext {
  ip: string;
  userAgent: string | undefined;
}

export function clientContext(request: FastifyRequest): ClientContext {
  const agent = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof agent === 'string' ? agent : undefined };
}
