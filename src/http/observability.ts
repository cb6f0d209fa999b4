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
  // Callback-style hooks: an async hook costs a promise per request for nothing here.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    metrics.httpDuration
      .series(request.method, request.routeOptions.url ?? 'unmatched', String(reply.statusCode))
      .observe(reply.elapsedTime / 1000);
    done();
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

export default fp(observability, { name: 'observability', dependencies: ['metrics'] });
