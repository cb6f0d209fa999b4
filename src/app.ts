/**
 * `buildApp(config)` assembles Parley and returns a ready Fastify instance;
 * it never listens (see server.ts) so tests and benchmarks can build as many
 * instances as they need. Registration follows the data flow:
 * infra (metrics, SQL, Redis) → cross-cutting HTTP (errors, security,
 * observability, docs) → domain services → routes.
 */
import { Ajv, type Options as AjvOptions } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { Config } from './config.ts';
import authenticate from './http/authenticate.ts';
import docs from './http/docs.ts';
import errorHandling from './http/errors.ts';
import healthRoutes from './http/health.routes.ts';
import jsonBody from './http/json-body.ts';
import observability, { requestId } from './http/observability.ts';
import httpRateLimit from './http/rate-limit.ts';
import security from './http/security.ts';
import cachePlugin from './infra/cache/plugin.ts';
import dbPlugin from './infra/db/plugin.ts';
import { metricsPlugin, sampledGauge } from './infra/metrics.ts';
import rateLimitPlugin from './infra/rate-limit/plugin.ts';
import redisPlugin from './infra/redis/plugin.ts';
import { AuditRepository, SessionsRepository } from './modules/auth/auth.repository.ts';
import authRoutes from './modules/auth/auth.routes.ts';
import { AuthService } from './modules/auth/auth.service.ts';
import { OidcRepository } from './modules/auth/oidc.repository.ts';
import { OidcService } from './modules/auth/oidc.service.ts';
import { Passwords } from './modules/auth/passwords.ts';
import { resolveSigningKey } from './modules/auth/signing-key.ts';
import { AccessTokens, RefreshTokens } from './modules/auth/tokens.ts';
import { UsersRepository } from './modules/users/users.repository.ts';
import usersRoutes from './modules/users/users.routes.ts';
import { UsersService } from './modules/users/users.service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Domain services, for the transports and for tests that drive the rules directly. */
    users: UsersService;
    auth: AuthService;
  }
}

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
 * always text, are coerced to the schema's types.
 */
function validators(): { body: Ajv; text: Ajv } {
  const base: AjvOptions = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false };
  const body = new Ajv({ ...base, coerceTypes: false });
  const text = new Ajv({ ...base, coerceTypes: 'array' });
  addFormats.default(body);
  addFormats.default(text);
  return { body, text };
}

/** A hop count means "trust the nearest N proxies"; Fastify takes that as a function. */
function trustProxy(
  setting: Config['http']['trustProxy'],
): boolean | string[] | ((addr: string, hop: number) => boolean) {
  return typeof setting === 'number' ? (_addr, hop) => hop < setting : setting;
}

export async function buildApp(
  config: Readonly<Config>,
  options: BuildOptions = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: config.log.level, redact: { paths: REDACT, censor: '[redacted]' } },
    genReqId: requestId,
    bodyLimit: config.http.bodyLimit,
    trustProxy: trustProxy(config.http.trustProxy),
    requestTimeout: config.http.requestTimeoutMs,
    http: {
      // Bound slow senders (slowloris): headers must arrive within the request timeout,
      // and Node checks for expired connections every second instead of every 30 s.
      headersTimeout: config.http.requestTimeoutMs,
      connectionsCheckingInterval: 1000,
    },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });

  const ajv = validators();
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? ajv.body : ajv.text).compile(schema as object),
  );

  // Infra, in dependency order.
  await app.register(metricsPlugin);
  await app.register(dbPlugin, { config: config.db });
  await app.register(redisPlugin, { config: config.redis });
  await app.register(cachePlugin, { config: config.redis });
  await app.register(rateLimitPlugin, { policies: config.rateLimits });

  // Cross-cutting HTTP.
  await app.register(errorHandling);
  await app.register(jsonBody);
  await app.register(security, { config: config.http });
  await app.register(observability);
  await app.register(httpRateLimit, { policies: config.rateLimits });
  await app.register(docs);

  // Domain services, then their routes.
  const db = app.sql.primary.db;
  const usersRepository = new UsersRepository(db);
  const users = new UsersService({ db, users: usersRepository, cache: app.cache });
  const signingKey = resolveSigningKey(config);
  const passwords = new Passwords(config.auth.passwordHashConcurrency);
  for (const [state, help] of [
    ['active', 'argon2 computations running'],
    ['waiting', 'argon2 computations queued behind PASSWORD_HASH_CONCURRENCY'],
  ] as const) {
    sampledGauge(app.metrics.registry, `parley_password_hash_${state}`, help, () => passwords.load[state]);
  }
  const auth = new AuthService({
    db,
    users: usersRepository,
    sessions: new SessionsRepository(db),
    audit: new AuditRepository(db),
    passwords,
    access: new AccessTokens(signingKey, config.auth.accessTokenTtlMs),
    refresh: new RefreshTokens(signingKey.refreshKey),
    cache: app.cache,
    limiter: app.rateLimiter,
    policies: config.rateLimits,
    settings: config.auth,
  });
  const oidc = new OidcService({
    config: config.oidc,
    flows: new OidcRepository(db),
    users: usersRepository,
    auth,
  });
  app.decorate('users', users);
  app.decorate('auth', auth);
  await app.register(authenticate, { auth });

  await app.register(healthRoutes);
  await app.register(authRoutes, { prefix: '/v1', auth, oidc, publicUrl: config.oidc.publicUrl });
  await app.register(usersRoutes, { prefix: '/v1', users });

  for (const plugin of options.plugins ?? []) await app.register(plugin);
  await app.ready();
  return app;
}
