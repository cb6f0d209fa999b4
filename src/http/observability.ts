/**
 * Request ids and metrics. Every response carries `x-request-id` (the client's
 * if it sent a well-formed one, otherwise a new UUID), the same id is on every
 * log line of the request, and each request's duration is recorded under its
 * route template (not the raw URL, which would explode label cardinality).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

const CLIENT_ID = /^[A-Za-z0-9._:-]{8,64}$/;

/** Fastify `genReqId`: trust a client-supplied id only if it is short and inert. */
export function requestId(req: IncomingMessage): string {
  const header = req.headers['x-request-id'];
  return typeof header === 'string' && CLIENT_ID.test(header) ? header : randomUUID();
}

async function observability(app: FastifyInstance): Promise<void> {
  const { metrics } = app;
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

export default fp(observability, { name: 'observability', dependencies: ['metrics'] });
