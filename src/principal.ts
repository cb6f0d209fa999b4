/**
 * Who is asking, and from where: the principal that authentication (src/http/authenticate.ts
 * for HTTP, the socket handshake for real time) attaches to a request. It sits
 * beside config and errors because every module reads it and none owns it —
 * the auth module decides sessions, not how transports carry them. The client
 * address rule (TRUST_PROXY) lives here too, so both transports apply one rule.
 */
import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';
import type { FastifyRequest } from 'fastify';
import type { Config } from './config.ts';

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

/** Whether the peer at `hop` (0: the one connected to us) may name the next address in X-Forwarded-For. */
export type ProxyTrust = (address: string, hop: number) => boolean;

/**
 * TRUST_PROXY as Fastify's `trustProxy` (app.ts): false (the peer is the client), the
 * nearest N hops, or the listed proxy addresses/CIDRs (compiled by proxy-addr, as Fastify
 * would compile the list itself).
 */
export function proxyTrust(setting: Config['http']['trustProxy']): false | ProxyTrust {
  if (setting === false) return false;
  return typeof setting === 'number' ? (_address, hop) => hop < setting : proxyAddr.compile(setting);
}

/**
 * The client address of a raw request under `trust`: what Fastify's `request.ip` is for the
 * same request (proxy-addr's walk from the peer through X-Forwarded-For, stopping at the
 * first untrusted hop). The socket handshake uses it, so a client behind a trusted proxy is
 * counted by its own address, and a client's X-Forwarded-For is ignored without one.
 * Behind a proxy the result may be whatever the proxy wrote: callers refuse a non-IP.
 */
export function clientAddress(request: IncomingMessage, trust: false | ProxyTrust): string | undefined {
  return trust === false ? request.socket.remoteAddress : proxyAddr(request, trust);
}
