/**
 * OpenAPI: `@fastify/swagger` builds the document from the route schemas;
 * `/docs` serves the UI and `/docs/json` the document. The UI is the one place
 * that loads scripts and styles, so it gets its own CSP (same-origin only).
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { registeredErrors } from '../errors.ts';

async function docs(app: FastifyInstance): Promise<void> {
  const codes = [...registeredErrors()].map(
    ([code, { status, title }]) => `| ${code} | ${status} | ${title} |`,
  );
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Parley API',
        version: '1',
        description: [
          'Real-time conversation backend. Errors are RFC 9457 `application/problem+json` with a stable `code`:',
          '',
          '| code | status | meaning |',
          '| --- | --- | --- |',
          ...codes,
        ].join('\n'),
      },
      tags: [
        { name: 'operations', description: 'Health and metrics' },
        { name: 'auth', description: 'Accounts, sessions and tokens' },
        { name: 'users', description: 'Profiles' },
      ],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    uiConfig: { docExpansion: 'list', deepLinking: false, validatorUrl: null },
  });
}

export default fp(docs, { name: 'docs' });
