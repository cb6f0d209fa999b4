/**
 * Rate limiting on HTTP routes. A route opts in with
 * `config: { rateLimit: [{ policy: 'register_ip', by: 'ip' }] }`, decided in
 * onRequest before the body is read.
 *
 * The API budgets split by who is asking, as GitHub's do: an authenticated
 * route (`config: { authenticated: true }`) spends from the caller's per-user
 * budget (`api_user`, checked with the session, see http/authenticate.ts), and
 * from the per-IP budget (`api_ip`) only when authentication fails; every
 * other /v1 route spends from the per-IP budget, started in onRequest and
 * enforced in preHandler. A signed-in request therefore pays one budget, not
 * two. Limited responses carry RateLimit-Limit/-Remaining/-Reset for the
 * tightest policy; a refusal is `429 RATE_LIMITED` with Retry-After.
 *
 * The IP is Fastify's `request.ip`, which honours TRUST_PROXY: a peer that is
 * not a trusted proxy cannot change its key with X-Forwarded-For.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config, RateLimitPolicyName } from '../config.ts';
import { assertAllowed, type RateLimitDecision, rateLimitHeaders } from '../infra/rate-limit/limiter.ts';

export interface RouteRateLimit {
  policy: RateLimitPolicyName;
  /** What the count is per: the client IP (more subjects arrive with authentication). */
  by: 'ip';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    rateLimit?: RouteRateLimit[];
    /** Set by authenticated routes: they spend from the per-user API budget instead of the per-IP one. */
    authenticated?: boolean;
  }
  interface FastifyInstance {
    /** Spends one point of the per-IP API budget; 429 when it is exhausted. For failed authentication. */
    spendIpBudget(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  }
}

const API_IP: RouteRateLimit[] = [{ policy: 'api_ip', by: 'ip' }];

function subject(limit: RouteRateLimit, request: FastifyRequest): string {
  switch (limit.by) {
    case 'ip':
      return request.ip;
  }
}

async function rateLimit(
  app: FastifyInstance,
  { policies }: { policies: Config['rateLimits'] },
): Promise<void> {
  const consume = (limits: RouteRateLimit[], request: FastifyRequest) =>
    Promise.all(
      limits
        .filter((l) => policies[l.policy])
        .map((l) => app.rateLimiter.consume(l.policy, subject(l, request))),
    );
  /** The API-budget decision of each in-flight request; settled by preHandler and onSend. */
  const budgets = new WeakMap<FastifyRequest, Promise<RateLimitDecision[]>>();

  app.decorate('spendIpBudget', async (request: FastifyRequest, reply: FastifyReply) => {
    settle(await consume(API_IP, request), reply);
  });

  app.addHook('onRequest', async (request, reply) => {
    const { url, config } = request.routeOptions;
    if (policies.api_ip && !config.authenticated && url?.startsWith('/v1/')) {
      // Not awaited here: the route's own policies below run in the same Redis round trip.
      const budget = consume(API_IP, request);
      budget.catch(() => {}); // settled (and rethrown) in preHandler
      budgets.set(request, budget);
    }
    // A route's own policies guard costly or abuse-prone work: decided before the body is even read.
    const own = await consume(request.routeOptions.config.rateLimit ?? [], request);
    settle(own, reply);
  });

  app.addHook('preHandler', async (request, reply) => {
    const budget = budgets.get(request);
    if (budget) settle(await budget, reply);
  });

  // Requests that fail before preHandler (401, 400…) still report the budget they spent.
  app.addHook('onSend', async (request, reply) => {
    const budget = budgets.get(request);
    if (budget && !reply.hasHeader('ratelimit-limit')) {
      const decisions = await budget.catch(() => []);
      if (decisions[0]) reply.headers(rateLimitHeaders(decisions[0]));
    }
  });
}

/** Refuses with 429 if any decision refused; otherwise reports the tightest in the RateLimit headers. */
export function settle(decisions: RateLimitDecision[], reply: FastifyReply): void {
  if (decisions.length === 0) return;
  const refused = decisions.find((d) => !d.allowed);
  if (refused) assertAllowed(refused);
  const current = Number(reply.getHeader('ratelimit-remaining') ?? Number.POSITIVE_INFINITY);
  const tightest = decisions.reduce((a, d) => (d.remaining < a.remaining ? d : a));
  if (tightest.remaining < current) reply.headers(rateLimitHeaders(tightest));
}

export default fp(rateLimit, { name: 'http-rate-limit', dependencies: ['rate-limit'] });
