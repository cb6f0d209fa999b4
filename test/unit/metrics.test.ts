/**
 * The bound counters and histograms (src/infra/metrics.ts) render on /metrics
 * exactly as prom-client's own metrics fed the same observations do.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { BoundCounter, BoundHistogram } from '../../src/infra/metrics.ts';

const buckets = [0.001, 0.01, 0.1, 1];
const observations: [string, string, number][] = [
  ['GET', '/v1/me', 0.0004],
  ['GET', '/v1/me', 0.003],
  ['GET', '/v1/me', 0.001],
  ['POST', '/v1/rooms', 0.5],
  ['POST', '/v1/rooms', 7],
  ['GET', 'a "quoted" \\ route\nwith a newline', 0.02],
];

describe('bound metrics', () => {
  it('render as prom-client renders the same counts and observations', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const boundCounter = new BoundCounter({
      name: 'c_total',
      help: 'c',
      labelNames: ['method', 'route'],
      registers: [ours],
    });
    const boundHistogram = new BoundHistogram({
      name: 'h_seconds',
      help: 'h',
      labelNames: ['method', 'route'],
      buckets,
      registers: [ours],
    });
    const counter = new Counter({
      name: 'c_total',
      help: 'c',
      labelNames: ['method', 'route'],
      registers: [theirs],
    });
    const histogram = new Histogram({
      name: 'h_seconds',
      help: 'h',
      labelNames: ['method', 'route'],
      buckets,
      registers: [theirs],
    });
    for (const [method, route, seconds] of observations) {
      boundCounter.series(method, route).inc();
      boundHistogram.series(method, route).observe(seconds);
      counter.inc({ method, route });
      histogram.observe({ method, route }, seconds);
    }
    boundCounter.series('GET', '/v1/me').inc(2);
    counter.inc({ method: 'GET', route: '/v1/me' }, 2);
    assert.equal(await ours.metrics(), await theirs.metrics());
  });

  it('start a series at zero, and reset with the registry', async () => {
    const registry = new Registry();
    const counter = new BoundCounter({
      name: 'z_total',
      help: 'z',
      labelNames: ['code'],
      registers: [registry],
    });
    counter.series('A');
    assert.match(await registry.metrics(), /^z_total\{code="A"\} 0$/m);
    counter.series('A').inc();
    registry.resetMetrics();
    assert.doesNotMatch(await registry.metrics(), /code="A"/);
  });
});
