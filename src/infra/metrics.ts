/**
 * One Prometheus registry per app instance (several instances can live in one
 * test process), with the process defaults and the metrics every layer
 * reports into. Modules add their own metrics to `registry`.
 */
import fp from 'fastify-plugin';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly redisCommandDuration: Histogram<'outcome'>;
  readonly redisAvailable: Gauge;
  readonly redisTransitions: Counter<'to'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    httpDuration: new Histogram({
      name: 'parley_http_request_duration_seconds',
      help: 'HTTP request duration by route template and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    redisCommandDuration: new Histogram({
      name: 'parley_redis_command_duration_seconds',
      help: 'Latency of request-path Redis operations',
      labelNames: ['outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5],
      registers,
    }),
    redisAvailable: new Gauge({
      name: 'parley_redis_available',
      help: '1 when the speed layer circuit is closed (Redis usable), 0 when degraded or not configured',
      registers,
    }),
    redisTransitions: new Counter({
      name: 'parley_redis_circuit_transitions_total',
      help: 'Speed layer circuit transitions, by the state entered',
      labelNames: ['to'],
      registers,
    }),
  };
}

/**
 * The labelled children of a metric, found by their label values: a metric's
 * own `inc(labels)`/`observe(labels, v)` hashes the label object on every call,
 * which hot paths (every request, every Redis command) should not pay. Label
 * values must come from a bounded set (route templates, policy names…).
 */
export class LabelledChildren<C> {
  readonly #children = new Map<string, C>();
  readonly #make: (...values: string[]) => C;

  constructor(make: (...values: string[]) => C) {
    this.#make = make;
  }

  get(...values: string[]): C {
    const key = values.join('\u0000');
    let child = this.#children.get(key);
    if (!child) {
      child = this.#make(...values);
      this.#children.set(key, child);
    }
    return child;
  }
}

/** A gauge read at scrape time, for state another component owns (queue depths, pool sizes). */
export function sampledGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics;
  }
}

/** Fastify plugin `metrics`: decorates `app.metrics`; the HTTP layer exposes it on /metrics. */
export const metricsPlugin = fp(
  async (app) => {
    app.decorate('metrics', createMetrics());
  },
  { name: 'metrics' },
);
