/**
 * The auth module: passwords, sessions, tokens, revocation and OIDC sign-in.
 * Its plugin wires the signing key, repositories, services, metrics and
 * routes, and exposes the service as `app.auth` — which the HTTP
 * authentication step (src/http/authenticate.ts) and the socket handshake
 * call. This file is the module's whole public surface.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.ts';
import { sampledGauge } from '../../infra/metrics.ts';
import { AuditRepository, SessionsRepository } from './auth.repository.ts';
import authRoutes from './auth.routes.ts';
import { AuthService } from './auth.service.ts';
import { OidcRepository } from './oidc.repository.ts';
import { OidcService } from './oidc.service.ts';
import { Passwords } from './passwords.ts';
import { resolveSigningKey } from './signing-key.ts';
import { AccessTokens, RefreshTokens } from './tokens.ts';

export { AuthErrors } from './auth.errors.ts';
export type { AuthService } from './auth.service.ts';
export type { AccessClaims } from './tokens.ts';

declare module 'fastify' {
  interface FastifyInstance {
    auth: AuthService;
  }
}

async function authModule(app: FastifyInstance, { config }: { config: Readonly<Config> }): Promise<void> {
  const { db } = app.sql.primary;
  const signingKey = resolveSigningKey(config);
  const passwords = new Passwords(config.auth.passwordHashConcurrency);
  for (const [state, help] of [
    ['active', 'argon2 computations running'],
    ['waiting', 'argon2 computations queued behind PASSWORD_HASH_CONCURRENCY'],
  ] as const) {
    sampledGauge(app.metrics.registry, `parley_password_hash_${state}`, help, () => passwords.load[state]);
  }
  const flows = new OidcRepository(db);
  const auth = new AuthService({
    db,
    users: app.users,
    sessions: new SessionsRepository(db),
    audit: new AuditRepository(db),
    identities: flows,
    passwords,
    access: new AccessTokens(signingKey, config.auth.accessTokenTtlMs),
    refresh: new RefreshTokens(signingKey.refreshKey),
    cache: app.cache,
    events: app.events,
    limiter: app.rateLimiter,
    policies: config.rateLimits,
    settings: config.auth,
  });
  const oidc = new OidcService({
    config: config.oidc,
    flows,
    users: app.users,
    auth,
  });
  app.decorate('auth', auth);
  await app.register(authRoutes, { prefix: '/v1', auth, oidc, publicUrl: config.oidc.publicUrl });
}

export default fp(authModule, {
  name: 'auth',
  dependencies: ['db', 'cache', 'rate-limit', 'metrics', 'authenticate', 'users'],
});
