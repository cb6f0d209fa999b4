/**
 * The access step, every route's first own onRequest hook, before the body is
 * read: authentication by default, then the limit step (rate-limit.ts).
 *
 * Every /v1 route requires a valid session unless it declares
 * `config: { public: true }`. The bearer token comes from the Authorization
 * header only (never a query string or cookie; the scheme in any case, RFC
 * 9110 §11.1). Its signature is checked synchronously, so the session-state
 * read and the caller's budgets leave in the same turn: one Redis round trip
 * of latency, not two. The principal lands on `request.principal`.
 */
import type { FastifyContextConfig, FastifyInstance, onRequestHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import { type AccessClaims, AuthErrors } from '../modules/auth/index.ts';
import type { Principal } from '../principal.ts';
import { HttpLimits, isApiRoute } from './rate-limit.ts';

/**
 * The credentials of an `Authorization: Bearer <credentials>` field (the scheme in any case,
 * RFC 9110 §11.1), or '' when the field is absent or names another scheme. Their shape is the
 * verifier's to check (tokens.ts): a regular expression over the whole token here cost 1 % of
 * `/v1/me`'s CPU, for a token that is usually one verified before.
 */
function bearerCredentials(field: string | undefined): string {
  if (field === undefined || field.charCodeAt(6) !== 32 || field.slice(0, 6).toLowerCase() !== 'bearer') {
    return '';
  }
  let start = 7;
  while (field.charCodeAt(start) === 32) start++;
  return field.slice(start);
}

export interface RouteAccess {
  method: string;
  url: string;
  access: 'public' | 'authenticated';
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every /v1 route and whether it needs a session, as registered. */
    readonly routeAccess: readonly RouteAccess[];
  }
}

async function authenticate(
  app: FastifyInstance,
  { policies }: { policies: Config['rateLimits'] },
): Promise<void> {
  const limits = new HttpLimits(app.rateLimiter, policies);
  const routes: RouteAccess[] = [];
  app.decorate('routeAccess', routes);
  app.decorateRequest('principal', undefined);

  // The access step is each route's own first onRequest hook (after the global ones), bound to
  // the route's template and config: Fastify builds `request.routeOptions` anew on every read.
  app.addHook('onRoute', (route) => {
    limits.check(route);
    const config = (route.config ?? {}) as FastifyContextConfig;
    const access = isApiRoute(route.url) && !config.public ? 'authenticated' : 'public';
    if (isApiRoute(route.url)) {
      for (const method of [route.method].flat()) routes.push({ method, url: route.url, access });
    }
    if (!isApiRoute(route.url) && !config.rateLimit?.length) return; // nothing to check or spend
    const step = access === 'public' ? publicStep(route.url, config) : authenticatedStep(route.url, config);
    route.onRequest = [step, ...[route.onRequest ?? []].flat()];
  });
  // The auth module decorates `app.auth` after this plugin: it must exist before the first request.
  app.addHook('onReady', async () => {
    if (!app.hasDecorator('auth')) throw new Error('the auth module is not registered');
  });

  /** A route without a session: only its limits. */
  const publicStep =
    (url: string, config: FastifyContextConfig): onRequestHookHandler =>
    (request, reply, done) => {
      limits.spend(request, reply, { url, config }, undefined).then(() => done(), done);
    };

  // Callback style, with the session read and the spend settled by hand: an async hook and
  // Promise.allSettled cost several promises and microtask hops per request for nothing.
  const authenticatedStep =
    (url: string, config: FastifyContextConfig): onRequestHookHandler =>
    (request, reply, done) => {
      let claims: AccessClaims;
      try {
        claims = app.auth.verifyAccessToken(bearerCredentials(request.headers.authorization));
      } catch (err) {
        limits.spendRejected(request, reply).then(() => done(err as Error), done);
        return;
      }
      let principal: Principal | undefined;
      let sessionFailure: unknown;
      /** Set when the spend failed (a 429, or a 503 of a closed policy). */
      let refused: { failure: unknown } | undefined;
      let waiting = 2;
      const settled = () => {
        if (--waiting > 0) return;
        if (principal === undefined) {
          // The 401 (or outage) is the answer, whatever the budget said. Only a rejected
          // session is anonymous traffic that pays the per-IP budget; an outage is not.
          const err = sessionFailure as Error;
          if (err instanceof AppError && err.code === AuthErrors.AUTH_UNAUTHENTICATED) {
            limits.spendRejected(request, reply).then(() => done(err), done);
          } else done(err);
        } else if (refused) done(refused.failure as Error);
        else {
          request.principal = principal;
          done();
        }
      };
      app.auth.principalFor(claims).then(
        (p) => {
          principal = p;
          settled();
        },
        (err: unknown) => {
          sessionFailure = err;
          settled();
        },
      );
      limits.spend(request, reply, { url, config }, claims.sub).then(settled, (failure: unknown) => {
        refused = { failure };
        settled();
      });
    };
}

export default fp(authenticate, { name: 'authenticate', dependencies: ['rate-limit'] });
