/**
 * The HTTP limit step: one place where a request spends its rate limits,
 * called by the access hook (authenticate.ts) once it knows who is asking and
 * before the body is read. A request spends, in one round trip:
 * - its API budget, split by caller as GitHub's is: a signed-in request pays
 *   the per-user budget (`api_user`), any other /v1 request the per-IP one
 *   (`api_ip`) — one budget, never two;
 * - the route's own policies, `config: { rateLimit: [{ policy, by }] }`,
 *   counted per client IP or per signed-in user (`by: 'user'` is refused on
 *   public routes at registration).
 * A refusal is `429 RATE_LIMITED` with Retry-After; otherwise the response
 * carries the `RateLimit` and `RateLimit-Policy` fields (IETF draft) for the
 * tightest policy. A request
 * whose token is rejected pays the per-IP budget, so a flood of bad tokens from
 * one address runs into 429.
 *
 * The IP is Fastify's `request.ip`, which honours TRUST_PROXY: a peer that is
 * not a trusted proxy cannot change its key with X-Forwarded-For.
 */
import type { FastifyContextConfig, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Config, RateLimitPolicyName } from '../config.ts';
import {
  assertAllowed,
  type RateLimitDecision,
  type RateLimiter,
  rateLimitHeaders,
} from '../infra/rate-limit/limiter.ts';

export interface RouteRateLimit {
  policy: RateLimitPolicyName;
  /** What the count is per: the client IP, or the signed-in user (authenticated routes only). */
  by: 'ip' | 'user';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    rateLimit?: RouteRateLimit[];
    /** Reachable without a session (sign-up and sign-in entry points); every other /v1 route is authenticated. */
    public?: boolean;
  }
}

const NONE: RouteRateLimit[] = [];
const NOTHING = Promise.resolve();

/** True for the routes the access rules cover: everything under /v1. */
export function isApiRoute(url: string | undefined): boolean {
  return url?.startsWith('/v1/') === true;
}

export class HttpLimits {
  readonly #limiter: RateLimiter;
  readonly #policies: Config['rateLimits'];

  constructor(limiter: RateLimiter, policies: Config['rateLimits']) {
    this.#limiter = limiter;
    this.#policies = policies;
  }

  /** Throws at registration when a route's limits cannot be applied (a per-user limit on a public route). */
  check(route: RouteOptions): void {
    const config = route.config as { rateLimit?: RouteRateLimit[]; public?: boolean } | undefined;
    const signedIn = isApiRoute(route.url) && !config?.public;
    for (const limit of config?.rateLimit ?? NONE) {
      if (limit.by === 'user' && !signedIn) {
        throw new Error(
          `${route.method} ${route.url}: "${limit.policy}" is per user, but the route is public`,
        );
      }
    }
  }

  /**
   * Spends the request's API budget and its route's policies; `route` is the route's
   * template and config, `userId` the verified caller on authenticated routes. Resolves
   * once all are decided.
   */
  spend(
    request: FastifyRequest,
    reply: FastifyReply,
    { url, config }: { url: string | undefined; config: Pick<FastifyContextConfig, 'rateLimit'> },
    userId: string | undefined,
  ): Promise<void> {
    const own = config.rateLimit ?? NONE;
    const budget: RateLimitPolicyName | undefined = isApiRoute(url)
      ? userId === undefined
        ? 'api_ip'
        : 'api_user'
      : undefined;
    const pending: Promise<RateLimitDecision>[] = [];
    if (budget && this.#policies[budget]) {
      pending.push(this.#limiter.consume(budget, userId ?? request.ip));
    }
    for (const limit of own) {
      if (!this.#policies[limit.policy]) continue;
      const subject = limit.by === 'user' ? userId : request.ip;
      if (subject !== undefined) pending.push(this.#limiter.consume(limit.policy, subject));
    }
    // The usual case, one decision, without Promise.all's extra array and promise.
    if (pending.length === 1)
      return (pending[0] as Promise<RateLimitDecision>).then((d) => settle([d], reply));
    if (pending.length === 0) return NOTHING;
    return Promise.all(pending).then((decisions) => settle(decisions, reply));
  }

  /** Spends one point of the per-IP budget for a request whose token was rejected. */
  async spendRejected(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (this.#policies.api_ip) settle([await this.#limiter.consume('api_ip', request.ip)], reply);
  }
}

/** Refuses with 429 if any decision refused; otherwise reports the tightest in the RateLimit headers. */
function settle(decisions: RateLimitDecision[], reply: FastifyReply): void {
  const refused = decisions.find((d) => !d.allowed);
  if (refused) assertAllowed(refused);
  const tightest = decisions.reduce((a, d) => (d.remaining < a.remaining ? d : a));
  reply.headers(rateLimitHeaders(tightest));
}
