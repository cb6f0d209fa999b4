/**
 * The yardstick: a bare Fastify route answering a small JSON object, with
 * logging off. Every Parley figure is printed as a ratio to this, measured in
 * the same run on the same machine.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/ping', async () => ({ status: 'ok' }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.send?.('ready');
