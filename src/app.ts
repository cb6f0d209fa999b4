/**
 * `buildApp(config)` assembles Parley and returns a ready Fastify instance;
 * it never listens (see server.ts) so tests and benchmarks can build as many
 * instances as they need. Registration follows the data flow:
 * infra (metrics, SQL, Redis, cache, rankings, presence, limiter) → cross-cutting HTTP
 * (errors, security, observability, docs, the access step) → modules, one plugin each →
 * the real-time gateway.
 */
import { Ajv, type Options as AjvOptions } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { Config } from './config.ts';
import type { DomainEvents } from './events.ts';
import authenticate from './http/authenticate.ts';
import docs from './http/docs.ts';
import drain from './http/drain.ts';
import errorHandling, { clientErrorHandler, frameworkErrors } from './http/errors.ts';
import healthRoutes from './http/health.routes.ts';
import jsonBody from './http/json-body.ts';
import { lazyChildLogger } from './http/lazy-logger.ts';
import observability, { requestId } from './http/observability.ts';
import security from './http/security.ts';
import cachePlugin from './infra/cache/plugin.ts';
import dbPlugin from './infra/db/plugin.ts';
import { metricsPlugin } from './infra/metrics.ts';
import presenceStorePlugin from './infra/presence/plugin.ts';
import rankingsPlugin from './infra/ranking/plugin.ts';
import rateLimitPlugin from './infra/rate-limit/plugin.ts';
import realtimeAdapterPlugin from './infra/realtime/plugin.ts';
import redisPlugin from './infra/redis/plugin.ts';
import { EventHub } from './lib/event-hub.ts';
import auth from './modules/auth/index.ts';
import presence from './modules/presence/index.ts';
import rooms from './modules/rooms/index.ts';
import users from './modules/users/index.ts';
import { proxyTrust } from './principal.ts';
import realtime from './realtime/index.ts';

export interface BuildOptions {
  /** Extra plugins registered after Parley's own routes, for embedders and tests. */
  plugins?: FastifyPluginAsync[];
}

/** Log redaction: credentials must never reach a log line, whatever gets logged. */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.idToken',
];

/**
 * Two validators: bodies are validated exactly as sent (no type coercion, unknown
 * fields rejected by the schemas), while params and query strings, which are
 * always text, are coerced to the schema's types. Both report every failing
 * field, not only the first (SPEC §5); inputs are small (BODY_LIMIT, MAX_URL_LENGTH).
 */
function validators(): { body: Ajv; text: Ajv } {
  const base: AjvOptions = { removeAdditional: false, useDefaults: true, allErrors: true, strict: false };
  const body = new Ajv({ ...base, coerceTypes: false });
  const text = new Ajv({ ...base, coerceTypes: 'array' });
  addFormats.default(body);
  addFormats.default(text);
  return { body, text };
}

export async function buildApp(
  config: Readonly<Config>,
  options: BuildOptions = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: config.log.level, redact: { paths: REDACT, censor: '[redacted]' } },
    genReqId: requestId,
    childLoggerFactory: lazyChildLogger,
    bodyLimit: config.http.bodyLimit,
    // The rule the socket handshake applies too (src/principal.ts).
    trustProxy: proxyTrust(config.http.trustProxy),
    requestTimeout: config.http.requestTimeoutMs,
    http: {
      // Bound slow senders (slowloris): headers must arrive within the request timeout,
      // and Node checks for expired connections every second instead of every 30 s.
      headersTimeout: config.http.requestTimeoutMs,
      connectionsCheckingInterval: 1000,
      // The whole request head; above MAX_URL_LENGTH (security.ts) so a long URL is a 414, not a 431.
      maxHeaderSize: 32 * 1024,
    },
    // Errors raised before routing answer in problem+json with the security headers too (C4).
    frameworkErrors,
    clientErrorHandler,
    // Draining on close is src/http/drain.ts: in-flight answered with `Connection: close`, late ones 503.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  });

  const ajv = validators();
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? ajv.body : ajv.text).compile(schema as object),
  );

  try {
    await register(app, config, options);
    await app.ready();
  } catch (err) {
    // A plugin that failed to load (bad wiring, schema guard) must not leave pools and sockets open.
    await app.close().catch(() => {});
    throw err;
  }
  return app;
}

async function register(
  app: FastifyInstance,
  config: Readonly<Config>,
  options: BuildOptions,
): Promise<void> {
  // Infra, in dependency order.
  await app.register(metricsPlugin);
  await app.register(dbPlugin, { config: config.db });
  await app.register(redisPlugin, { config: config.redis });
  await app.register(cachePlugin, { config: config.redis });
  await app.register(rankingsPlugin);
  await app.register(rateLimitPlugin, { policies: config.rateLimits });
  await app.register(presenceStorePlugin);
  await app.register(realtimeAdapterPlugin, { config: config.redis });

  // Cross-cutting HTTP: the access step (authentication, then limits) comes before any route.
  await app.register(errorHandling);
  await app.register(drain);
  await app.register(jsonBody);
  await app.register(security, { config: config.http });
  await app.register(observability);
  await app.register(docs, { publicUrl: config.oidc.publicUrl });
  await app.register(authenticate, { policies: config.rateLimits });
  await app.register(healthRoutes);

  // Modules, each wiring its own repository, service and routes; they publish what happened
  // after commit on the event hub, which the real-time gateway carries to clients.
  app.decorate(
    'events',
    new EventHub<DomainEvents>((err, event) => app.log.error({ err, event }, 'event listener failed')),
  );
  await app.register(users);
  await app.register(auth, { config });
  await app.register(rooms, { config });
  await app.register(presence, {
    ttlMs: config.realtime.presenceTtlMs,
    ownerGraceMs: config.realtime.roomOwnerGraceMs,
  });

  // The Socket.IO gateway on the same HTTP server, after the modules whose services it calls.
  await app.register(realtime, { config });

  for (const plugin of options.plugins ?? []) await app.register(plugin);
}
