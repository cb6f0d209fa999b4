/**
 * Response hardening for every route: helmet with an explicit API CSP
 * (helmet's defaults leave out `base-uri 'none'` and `frame-ancestors 'none'`),
 * HSTS for a year with subdomains, CORS limited to the exact configured
 * origins, and `Cache-Control: no-store` so no proxy or browser keeps
 * authenticated data.
 *
 * helmet is used directly, its middleware built once: @fastify/helmet builds it
 * on every request, re-parsing the CSP each time. Measured with --cpu-prof on
 * /health/live: helmet's share of busy CPU 8.5 % → 3.1 %, 238k → 280k requests
 * in 6 s.
 */
import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import helmet from 'helmet';
import type { Config } from '../config.ts';

/** The API serves JSON only: nothing may load, frame or submit anything. */
export const API_CSP = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'none'"],
    baseUri: ["'none'"],
    frameAncestors: ["'none'"],
    objectSrc: ["'none'"],
    formAction: ["'none'"],
  },
};

async function security(app: FastifyInstance, { config }: { config: Config['http'] }): Promise<void> {
  const securityHeaders = helmet({
    contentSecurityPolicy: API_CSP,
    hsts: { maxAge: 31_536_000, includeSubDomains: true },
    referrerPolicy: { policy: 'no-referrer' },
  });
  // Set on the raw response: headers a route sets itself (the docs UI's own CSP) take precedence.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('cache-control', 'no-store');
    securityHeaders(request.raw, reply.raw, (err?: unknown) => done(err as Error | undefined));
  });
  await app.register(cors, {
    // An exact-match list: a suffixed look-alike origin or `null` gets no CORS headers.
    origin: config.corsOrigins.length > 0 ? [...config.corsOrigins] : false,
    credentials: true,
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    maxAge: 600,
  });
}

export default fp(security, { name: 'security' });
