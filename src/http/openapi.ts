/**
 * OpenAPI conventions, applied to every documented route as it is registered
 * (an onRoute hook), so the document tells what the platform does to a route
 * without each module repeating it:
 * - `operationId`, when absent, from the method and the path (`GET
 *   /v1/auth/sessions/:id` → `getAuthSessionsById`); a duplicate refuses to start;
 * - `security` from the access rules: `[]` for public and non-/v1 routes,
 *   bearer for the rest (authenticate.ts);
 * - the problem+json responses the platform can give any route: 400 (schema
 *   validation when the route validates input; body parsing when it takes a
 *   body; a bad forwarded address), 401 on authenticated routes, 413/415 with
 *   a body, 414, 429 and 503 where a limit applies, 500, 503, and `default`
 *   for errors raised before routing (408, 431, …);
 * - a route's own errors, listed by code in `schema.errors`: status and
 *   meaning come from the error registry;
 * - a description saying who may call it and which limits it spends.
 * A route author writes `summary`, `tags`, the success response and
 * `errors: [...]`; a status the route documents itself is left as it is.
 */
import type { FastifySchema, RouteOptions } from 'fastify';
import { Type } from 'typebox';
import { Errors, registeredErrors } from '../errors.ts';
import { RateLimitErrors } from '../infra/rate-limit/rate-limit.errors.ts';
import { AuthErrors } from '../modules/auth/index.ts';
import { isApiRoute, type RouteRateLimit } from './rate-limit.ts';

declare module 'fastify' {
  interface FastifySchema {
    /** The route's own error codes (defineErrors), documented as problem+json responses. */
    errors?: readonly string[];
  }
}

export const PROBLEM_SCHEMA_ID = 'Problem';

/** RFC 9457 problem details as toProblem (src/errors.ts) renders them. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: '`urn:parley:error:<code>`' }),
    title: Type.String(),
    status: Type.Integer({ minimum: 400, maximum: 599 }),
    code: Type.String({ description: 'Stable error code; see the table in the API description' }),
    detail: Type.Optional(Type.String({ description: 'What was wrong with this request (4xx only)' })),
    instance: Type.Optional(Type.String({ description: 'The request path' })),
    requestId: Type.Optional(Type.String({ description: 'Also in the x-request-id header and the logs' })),
    errors: Type.Optional(
      Type.Array(Type.Object({ field: Type.String(), message: Type.String() }), {
        description: 'Every failing field of a VALIDATION_FAILED problem',
      }),
    ),
  },
  { $id: PROBLEM_SCHEMA_ID, additionalProperties: false },
);

/** Methods whose requests Fastify reads a body for. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

function problemResponse(codes: readonly string[], preamble?: string) {
  const registry = registeredErrors();
  const lines = codes.map((code) => `- \`${code}\`: ${registry.get(code)?.title}`);
  return {
    description: [preamble, ...lines].filter(Boolean).join('\n'),
    content: { 'application/problem+json': { schema: { $ref: `${PROBLEM_SCHEMA_ID}#` } } },
  };
}

function camel(words: string[]): string {
  return words
    .flatMap((w) => w.split(/[-_]/))
    .filter(Boolean)
    .map((w, i) => (i === 0 ? w.toLowerCase() : w[0]?.toUpperCase() + w.slice(1)))
    .join('');
}

/** `GET /v1/users/:id` → `getUsersById`; stable as long as the route is. */
export function operationIdOf(method: string, url: string): string {
  const words = [method];
  for (const segment of url.replace(/^\/v1\//, '/').split('/')) {
    if (segment.startsWith(':')) words.push('by', segment.slice(1));
    else if (segment) words.push(segment);
  }
  return camel(words);
}

function accessDescription(url: string, isPublic: boolean, limits: readonly RouteRateLimit[]): string {
  const access = !isApiRoute(url)
    ? 'Operational endpoint: no access token, no rate limit.'
    : isPublic
      ? 'Public: no access token needed; spends the per-IP API budget (`api_ip`).'
      : 'Requires a bearer access token; spends the per-user API budget (`api_user`).';
  const own = limits.map((l) => `\`${l.policy}\` (per ${l.by === 'ip' ? 'client IP' : 'user'})`);
  return own.length > 0 ? `${access} Also limited by ${own.join(', ')}.` : access;
}

/** Fills the derived parts of one route's documentation (see the file comment). */
export function applyConventions(route: RouteOptions, operationIds: Set<string>): void {
  const schema: FastifySchema = route.schema ?? {};
  const method = [route.method].flat()[0] as string;
  if (schema.hide || method === 'HEAD') return;
  const config = (route.config ?? {}) as { public?: boolean; rateLimit?: RouteRateLimit[] };
  const api = isApiRoute(route.url);
  const authenticated = api && !config.public;
  const limits = config.rateLimit ?? [];
  const hasBody = BODY_METHODS.has(method);
  const validates = Boolean(schema.body || schema.params || schema.querystring || schema.headers);

  const operationId = schema.operationId ?? operationIdOf(method, route.url);
  if (operationIds.has(operationId)) {
    throw new Error(`${method} ${route.url}: operationId "${operationId}" is already used`);
  }
  operationIds.add(operationId);

  const own = new Map<number, string[]>();
  const add = (...codes: string[]) => {
    for (const code of codes) {
      const status = registeredErrors().get(code)?.status;
      if (status === undefined) throw new Error(`${method} ${route.url}: unregistered error code ${code}`);
      own.set(status, [...(own.get(status) ?? []), code]);
    }
  };
  add(Errors.BAD_REQUEST);
  if (validates) add(Errors.VALIDATION_FAILED);
  if (hasBody) add(Errors.MALFORMED_BODY, Errors.PAYLOAD_TOO_LARGE, Errors.UNSUPPORTED_MEDIA_TYPE);
  if (authenticated) add(AuthErrors.AUTH_UNAUTHENTICATED);
  add(Errors.URI_TOO_LONG);
  if (api || limits.length > 0) add(RateLimitErrors.RATE_LIMITED, RateLimitErrors.RATE_LIMIT_UNAVAILABLE);
  add(Errors.INTERNAL, Errors.SERVICE_UNAVAILABLE);
  add(...(schema.errors ?? []));

  const response: Record<string, unknown> = { ...(schema.response as Record<string, unknown>) };
  for (const [status, codes] of own) response[status] ??= problemResponse([...new Set(codes)]);
  response.default ??= problemResponse(
    [Errors.BAD_REQUEST, Errors.REQUEST_TIMEOUT, Errors.HEADERS_TOO_LARGE],
    'Refused before routing (bytes Node cannot parse as a request), e.g.:',
  );

  route.schema = {
    ...schema,
    operationId,
    security: authenticated ? [{ bearer: [] }] : [],
    description: [schema.description, accessDescription(route.url, config.public === true, limits)]
      .filter(Boolean)
      .join('\n\n'),
    response,
  };
}
