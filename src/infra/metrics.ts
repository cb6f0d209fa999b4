/**
 * One Prometheus registry per app instance (several instances can live in one
 * test process), with the process defaults and the metrics every layer
 * reports into. Modules add their own metrics to `registry`: labelled counters
 * and histograms as BoundCounter / BoundHistogram (below), the rest as
 * prom-client's own.
 */
import fp from 'fastify-plugin';
import { type Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  readonly httpDuration: BoundHistogram;
  readonly redisCommandDuration: BoundHistogram;
  readonly redisAvailable: Gauge;
  readonly redisTransitions: BoundCounter;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    httpDuration: new BoundHistogram({
      name: 'parley_http_request_duration_seconds',
      help: 'HTTP request duration by route template and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    redisCommandDuration: new BoundHistogram({
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
    redisTransitions: new BoundCounter({
      name: 'parley_redis_circuit_transitions_total',
      help: 'Speed layer circuit transitions, by the state entered',
      labelNames: ['to'],
      registers,
    }),
  };
}

/**
 * Counters and histograms whose series are bound once: `series(...values)` returns
 * the series of those label values (in `labelNames` order), made on first use and
 * then found by one Map lookup; updating it is plain arithmetic. prom-client's own
 * `inc(labels)` / `observe(labels, v)`, and the children `labels()` returns, hash
 * the label object on every call and allocate for it — which the hot paths (every
 * request, every Redis call) should not pay. They register in a prom-client
 * Registry like its own metrics and render identically on /metrics. Label values
 * must come from a bounded set (route templates, policy names, error codes…).
 */
abstract class BoundMetric<S> {
  readonly name: string;
  readonly help: string;
  readonly aggregator = 'sum';
  abstract readonly type: 'counter' | 'histogram';
  readonly #labelNames: readonly string[];
  /** Every series made, with its labels, in creation order (for rendering). */
  readonly #made: { labels: Record<string, string>; series: S }[] = [];
  /**
   * The series by label value, one Map level per label: a hit is one `Map.get` per
   * label on strings the caller already holds (route templates, policy names), and
   * allocates nothing — a joined key would build a string on every call.
   */
  #index = new Map<string, unknown>();

  constructor(options: {
    name: string;
    help: string;
    labelNames?: readonly string[];
    registers: Registry[];
  }) {
    this.name = options.name;
    this.help = options.help;
    this.#labelNames = options.labelNames ?? [];
    for (const registry of options.registers) registry.registerMetric(this as unknown as Counter);
  }

  /** The series of these label values, one per label name, in order. */
  series(...values: string[]): S {
    let level = this.#index;
    const last = this.#labelNames.length - 1;
    for (let i = 0; i < last; i++) {
      const value = values[i] ?? '';
      let next = level.get(value) as Map<string, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(value, next);
      }
      level = next;
    }
    const value = values[Math.max(last, 0)] ?? '';
    let found = level.get(value) as S | undefined;
    if (found === undefined) {
      const labels: Record<string, string> = {};
      this.#labelNames.forEach((name, i) => {
        labels[name] = values[i] ?? '';
      });
      found = this.create();
      this.#made.push({ labels, series: found });
      level.set(value, found);
    }
    return found;
  }

  protected abstract create(): S;
  protected abstract values(labels: Record<string, string>, series: S): MetricValue[];

  /** What a prom-client Registry reads at scrape time. */
  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: MetricValue[];
  }> {
    const values: MetricValue[] = [];
    for (const { labels, series } of this.#made) values.push(...this.values(labels, series));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.#made.length = 0;
    this.#index = new Map();
  }
}

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

export class CounterSeries {
  value = 0;

  inc(by = 1): void {
    this.value += by;
  }
}

export class BoundCounter extends BoundMetric<CounterSeries> {
  readonly type = 'counter';

  protected create(): CounterSeries {
    return new CounterSeries();
  }

  protected values(labels: Record<string, string>, series: CounterSeries): MetricValue[] {
    return [{ labels, value: series.value }];
  }
}

export class HistogramSeries {
  /** Observations per bucket (not cumulative): counts[i] for values in (bounds[i-1], bounds[i]]. */
  readonly counts: number[];
  sum = 0;
  count = 0;
  readonly #bounds: readonly number[];

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        (this.counts[i] as number)++;
        break;
      }
    }
    this.sum += value;
    this.count += 1;
  }
}

export class BoundHistogram extends BoundMetric<HistogramSeries> {
  readonly type = 'histogram';
  readonly #bounds: readonly number[];

  constructor(options: ConstructorParameters<typeof BoundMetric>[0] & { buckets: readonly number[] }) {
    super(options);
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
  }

  protected create(): HistogramSeries {
    return new HistogramSeries(this.#bounds);
  }

  protected values(labels: Record<string, string>, series: HistogramSeries): MetricValue[] {
    const bucket = `${this.name}_bucket`;
    let cumulative = 0;
    // prom-client's layout: `le` first, the cumulative buckets, +Inf, then _sum and _count.
    const values: MetricValue[] = this.#bounds.map((le, i) => {
      cumulative += series.counts[i] as number;
      return { labels: { le, ...labels }, value: cumulative, metricName: bucket };
    });
    values.push(
      { labels: { le: '+Inf', ...labels }, value: series.count, metricName: bucket },
      { labels, value: series.sum, metricName: `${this.name}_sum` },
      { labels, value: series.count, metricName: `${this.name}_count` },
    );
    return values;
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
