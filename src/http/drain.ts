/**
 * Draining on shutdown (SIGTERM → app.close()). Node's server.close and
 * Fastify's `forceCloseConnections: 'idle'` close the keep-alive sockets idle
 * at that moment, but a socket busy then stays keep-alive after its response,
 * and the close waits on it until the shutdown grace kills the process. So,
 * from the start of the close:
 * - every response carries `Connection: close`: the in-flight ones are
 *   answered, then Node closes their sockets;
 * - a request still arriving on an open socket gets a 503 problem
 *   (SERVICE_UNAVAILABLE, Retry-After) and `Connection: close`, until the
 *   listener is gone (Fastify's own `return503OnClosing` answer is not a
 *   problem, so it is off).
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { unavailable } from './errors.ts';

async function drain(app: FastifyInstance): Promise<void> {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // Callback hooks: on every request, an async hook would cost a promise for nothing.
  app.addHook('onRequest', (_request, _reply, done) => {
    done(closing ? unavailable() : undefined);
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
}

export default fp(drain, { name: 'drain', dependencies: ['error-handling'] });
