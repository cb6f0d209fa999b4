/**
 * Fastify plugin `realtimeAdapter`: the Socket.IO adapter's Redis connections
 * (infra/realtime/adapter.ts), decorated as `app.realtimeAdapter` so the gateway
 * uses it and /health/ready reports its state; `parley_ws_adapter_errors_total`
 * counts its connections' error events. Its connections close after the gateway
 * closed Socket.IO's adapters (onClose hooks run in reverse registration order).
 */
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';
import type { Config } from '../../config.ts';
import { createRealtimeAdapter, type RealtimeAdapter } from './adapter.ts';

declare module 'fastify' {
  interface FastifyInstance {
    realtimeAdapter: RealtimeAdapter;
  }
}

export default fp<{ config: Config['redis'] }>(
  async (app, { config }) => {
    const errors = new Counter({
      name: 'parley_ws_adapter_errors_total',
      help: 'Error events of the Socket.IO adapter’s Redis connections (failed reconnect attempts included)',
      registers: [app.metrics.registry],
    });
    const adapter = createRealtimeAdapter(
      config,
      app.redis.keys.realtime,
      app.log.child({ layer: 'realtime' }),
      () => errors.inc(),
    );
    app.addHook('onClose', () => adapter.close());
    app.decorate('realtimeAdapter', adapter);
  },
  { name: 'realtimeAdapter', dependencies: ['metrics', 'redis'] },
);
