/**
 * Request ids and metrics. Every response carries `x-request-id` (the client's
 * if it sent a well-formed one, otherwise a new UUID), the same id is on every
 * log line of the request, and each request's duration is recorded under its
 * route template (not the raw URL, which would explode label cardinality).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, onResponseHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import type { HistogramSeries } from '../infra/metrics.ts';

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
  // Each route observes its own requests with a hook bound to its template (and its method, when
  // it has one), so the series is found by status alone: Fastify builds `request.routeOptions`
  // anew on every read, and a joined label key would be a new string per request.
  const observer = (url: string, method: string | undefined): onResponseHookHandler => {
    const byStatus = new Map<number, HistogramSeries>();
    return (request, reply, done) => {
      const status = reply.statusCode;
      let series = method === undefined ? undefined : byStatus.get(status);
      if (series === undefined) {
        series = metrics.httpDuration.series(method ?? request.method, url, String(status));
        if (method !== undefined) byStatus.set(status, series);
      }
      series.observe(reply.elapsedTime / 1000);
      done();
    };
  };
  app.addHook('onRoute', (route) => {
    const methods = [route.method].flat();
    const observe = observer(route.url, methods.length === 1 ? methods[0] : undefined);
    route.onResponse = [...[route.onResponse ?? []].flat(), observe];
  });
  const unmatched = observer('unmatched', undefined);
  app.addHook('onResponse', (request, reply, done) => {
    if (request.is404) unmatched.call(app, request, reply, done);
    else done();
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

export default fp(observability, { name: 'observability', dependencies: ['metrics'] });
