/**
 * Draining on shutdown (SIGTERM → app.close()). Node's server.close and
 * Fastify's `forceCloseConnections: 'idle'` close the keep-alive sockets idle
 * at that moment, but a socket busy then stays keep-alive after its response,
 * and the close waits on it until the shutdown grace kills the process. So,
 * from the start of the close:
 * - every response not yet sent carries `Connection: close`: the in-flight ones
 *   are answered, then Node closes their sockets;
 * - a request still arriving on an open socket gets a 503 problem
 *   (SERVICE_UNAVAILABLE, Retry-After) and `Connection: close`, until the
 *   listener is gone (Fastify's own `return503OnClosing` answer is not a
 *   problem, so it is off).
 *
 * The in-flight responses are found through the open connections (each
 * socket's current response, as Node's own closeIdleConnections and
 * http-terminator find them), marked once when the close begins: no hook on
 * every response for a flag that is false until shutdown.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { unavailable } from './errors.ts';

async function drain(app: FastifyInstance): Promise<void> {
  let closing = false;
  const connections = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });
  app.addHook('preClose', async () => {
    closing = true;
    for (const socket of connections) {
      const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (response && !response.headersSent) response.setHeader('connection', 'close');
    }
  });
  // A callback hook: on every request, an async hook would cost a promise for nothing.
  app.addHook('onRequest', (_request, reply, done) => {
    if (!closing) return done();
    reply.header('connection', 'close');
    done(unavailable());
  });
}

export default fp(drain, { name: 'drain', dependencies: ['error-handling'] });
