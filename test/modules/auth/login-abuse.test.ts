/**
 * Login under attack (RELIABILITY A8, A13): an unknown email must cost what a
 * wrong password costs, and a flood of wrong-password logins must neither
 * starve unrelated requests nor run more argon2 computations than the cap.
 * The login limiters are off here: these rows are about the hashing itself.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { describeBackends } from '../../helpers/backends.ts';
import { type SignedUp, signUp } from '../../helpers/fixtures.ts';

const LIMITS_OFF = {
  RATE_LIMIT_LOGIN_EMAIL_IP: 'off',
  RATE_LIMIT_LOGIN_IP: 'off',
  RATE_LIMIT_LOGIN_ACCOUNT: 'off',
};

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

describeBackends('login under attack', (b) => {
  let app: FastifyInstance;
  let user: SignedUp;
  before(async () => {
    app = await b.app(LIMITS_OFF);
    user = await signUp(app);
  });

  /** A gauge's current value, read as a /metrics scrape would. */
  const gauge = async (name: string) =>
    (await app.metrics.registry.getSingleMetric(name)?.get())?.values[0]?.value ?? Number.NaN;

  const login = (email: string, password: string) =>
    app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password } });

  it('A8: an unknown email and a wrong password take the same time (200 interleaved attempts)', async () => {
    const attempt = (email: string, i: number) => timed(() => login(email, `wrong password ${i}`));
    const unknownEmail = () => `nobody-${randomUUID()}@example.test`;
    for (let i = 0; i < 10; i++) await attempt(i % 2 ? user.email : unknownEmail(), i); // warm-up
    const existing: number[] = [];
    const gaps: number[] = [];
    for (let i = 0; i < 100; i++) {
      const known = await attempt(user.email, i);
      existing.push(known);
      gaps.push(known - (await attempt(unknownEmail(), i)));
    }
    // The median of the paired differences: back-to-back pairs cancel the machine's own drift.
    const gap = Math.abs(percentile(gaps, 50));
    const median = percentile(existing, 50);
    assert.ok(
      gap <= 5 && gap <= 0.05 * median,
      `median existing ${median.toFixed(2)} ms, median gap to unknown ${gap.toFixed(2)} ms`,
    );
  });

  it('A13: a wrong-password flood leaves other requests fast and the hashing cap holds', async () => {
    const cap = b.config(LIMITS_OFF).auth.passwordHashConcurrency;
    /** p99 of /health/live and /v1/me, requested in turn while `busy()` (at least 200 requests). */
    const unrelated = async (busy: () => boolean) => {
      const latencies: number[] = [];
      while (latencies.length < 200 || busy()) {
        latencies.push(await timed(() => app.inject('/health/live')));
        latencies.push(await timed(() => app.inject({ url: '/v1/me', headers: user.headers })));
        // inject() of a cached route never reaches the I/O phase: yield, or the hashes never complete.
        await new Promise((r) => setImmediate(r));
      }
      return percentile(latencies, 99);
    };
    const baseline = await unrelated(() => false);

    let flooding = true;
    let peakActive = 0;
    let peakWaiting = 0;
    const sampler = (async () => {
      while (flooding) {
        peakActive = Math.max(peakActive, await gauge('parley_password_hash_active'));
        peakWaiting = Math.max(peakWaiting, await gauge('parley_password_hash_waiting'));
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const flood = Promise.all(
      Array.from({ length: 50 }, (_, i) => login(user.email, `flood password ${i}`)),
    ).finally(() => {
      flooding = false;
    });
    const underFlood = await unrelated(() => flooding);
    const statuses = (await flood).map((r) => r.statusCode);
    await sampler;

    assert.deepEqual(new Set(statuses), new Set([401]));
    assert.ok(peakActive <= cap, `${peakActive} argon2 computations at once, cap ${cap}`);
    assert.ok(peakWaiting > 0, 'the flood queued behind the cap');
    // In-process latencies are sub-millisecond, so their p99 is VM scheduling noise: 20 ms of slack
    // on top of the row's 2× still fails loudly if the flood's 800 ms of hashing reached the loop.
    assert.ok(
      underFlood <= 2 * baseline + 20,
      `p99 of unrelated requests ${underFlood.toFixed(2)} ms under the flood, ${baseline.toFixed(2)} ms before`,
    );
  });
});
