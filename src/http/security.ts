/**
 * Response hardening for every route, and CORS limited to the exact configured
 * origins.
 *
 * The headers are the set OWASP's REST Security Cheat Sheet asks of a JSON API,
 * fixed at start-up: an API CSP that lets nothing load, frame or submit
 * anything (helmet's defaults leave out `base-uri 'none'` and
 * `frame-ancestors 'none'`), HSTS for a year with subdomains, `nosniff`,
 * `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`,
 * `Cross-Origin-Resource-Policy: same-origin`, and `Cache-Control: no-store`
 * so no proxy or browser keeps authenticated data. helmet's document-only
 * headers (COOP, Origin-Agent-Cluster, DNS prefetch, IE and Flash switches)
 * do nothing for JSON, and running helmet per request cost 12 % of busy CPU
 * on /health/live (--cpu-prof): one object assigned per request replaces it.
 * Responses Fastify never routes (parser-level errors) carry the same headers
 * through errors.ts, which reads SECURITY_HEADERS from here.
 *
 * The same first hook refuses a request URL over MAX_URL_LENGTH (414) and,
 * behind trusted proxies, a forwarded client address that is not an IP (400):
 * it would become the rate-limit key and the sessions/audit `ip`.
 */
import { isIP } from 'node:net';
import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.ts';
import { AppError, Errors } from '../errors.ts';

const API_CSP =
  "default-src 'none'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'; form-action 'none'";

/**
 * RFC 9110 asks servers to take at least 8,000 octets of request line; longer is 414.
 * Node's header limit (app.ts: maxHeaderSize, 32 KiB for the whole head) is above it,
 * so a long URL gets this 414 rather than a 431.
 */
export const MAX_URL_LENGTH = 8192;

export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'cache-control': 'no-store',
  'content-security-policy': API_CSP,
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
});

async function security(app: FastifyInstance, { config }: { config: Config['http'] }): Promise<void> {
  // Set first, so a route's own value (the docs UI's CSP) replaces ours.
  const proxied = config.trustProxy !== false;
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(SECURITY_HEADERS);
    if (request.raw.url !== undefined && request.raw.url.length > MAX_URL_LENGTH) {
      done(new AppError(Errors.URI_TOO_LONG, `The URL is longer than ${MAX_URL_LENGTH} characters`));
    } else if (proxied && isIP(request.ip) === 0) {
      done(new AppError(Errors.BAD_REQUEST, 'X-Forwarded-For does not name a valid client address'));
    } else {
      done();
    }
  });
  // Without origins there is nothing to allow: @fastify/cors with `origin: false` would still run a
  // hook on every request (an options object spread each time) only to add nothing, and answer
  // preflights with the 404 that unregistered routes get anyway.
  if (config.corsOrigins.length === 0) return;
  await app.register(cors, {
    // An exact-match list: a suffixed look-alike origin or `null` gets no CORS headers.
    origin: [...config.corsOrigins],
    credentials: true,
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    maxAge: 600,
  });
}

export default fp(security, { name: 'security' });
