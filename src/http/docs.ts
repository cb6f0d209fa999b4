/**
 * OpenAPI: `@fastify/swagger` builds the document from the route schemas,
 * completed by the conventions in openapi.ts; `/docs` serves the UI and
 * `/docs/json` the document. `npm run lint` runs Redocly and Spectral on it
 * (scripts/openapi.ts writes it). The UI is the one place that loads scripts
 * and styles, so it gets its own CSP (same-origin only).
 *
 * Outside the document on purpose: `GET /metrics` (Prometheus text format for
 * the scraper, not part of the client API) and the `/docs` pages themselves.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { registeredErrors } from '../errors.ts';
import { applyConventions, ProblemSchema } from './openapi.ts';

async function docs(app: FastifyInstance, { publicUrl }: { publicUrl: string }): Promise<void> {
  const codes = [...registeredErrors()].map(
    ([code, { status, title }]) => `| ${code} | ${status} | ${title} |`,
  );
  const operationIds = new Set<string>();
  app.addSchema(ProblemSchema);
  app.addHook('onRoute', (route) => applyConventions(route, operationIds));
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Parley API',
        version: '1',
        license: { name: 'MIT', identifier: 'MIT' },
        contact: { name: 'Parley maintainers' },
        description: [
          'Real-time conversation backend. Errors are RFC 9457 `application/problem+json` with a stable `code`:',
          '',
          '| code | status | meaning |',
          '| --- | --- | --- |',
          ...codes,
          '',
          'A 401 carries `WWW-Authenticate: Bearer`; rate-limited operations answer with `RateLimit` and',
          '`RateLimit-Policy` headers (draft-ietf-httpapi-ratelimit-headers) and `Retry-After` on 429.',
          'Lists are cursor-paginated: `?cursor=&limit=` → `{ items, nextCursor }`.',
        ].join('\n'),
      },
      servers: [{ url: publicUrl, description: 'This deployment (PUBLIC_URL)' }],
      tags: [
        { name: 'operations', description: 'Health probes' },
        { name: 'auth', description: 'Accounts, sessions and tokens' },
        { name: 'users', description: 'Profiles' },
        { name: 'rooms', description: 'Voice rooms: listing, membership and moderation' },
        { name: 'admin', description: 'Account administration (admins only)' },
      ],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
    // Shared schemas keep their $id as their component name (`#/components/schemas/Problem`).
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    uiConfig: { docExpansion: 'list', deepLinking: false, validatorUrl: null },
  });
}

export default fp(docs, { name: 'docs' });
