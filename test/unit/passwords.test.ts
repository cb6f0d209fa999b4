/**
 * The cost of one password hash (RELIABILITY A2): high enough to slow guessing
 * (the floor is A1's check of the stored parameters), bounded so that a login
 * never waits on the hash for long.
 *
 * The row's *ours* figure (p95 ≤ 250 ms over 100 hashes) is a wall-clock number
 * of the CI machine, which is 2 shared cores also running MariaDB and Redis: it
 * is measured and printed by `npm run bench` (bench/micro.ts), not asserted
 * here. This test keeps what does not depend on the machine's load: the work
 * per hash is pinned (every hash is made at exactly the calibrated parameters,
 * so raising them fails here and sends you back to the bench), and the
 * cheat sheet's contract bound of one second holds with a wide margin.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ARGON2_PARAMS, Passwords } from '../../src/modules/auth/passwords.ts';

describe('password hashing', () => {
  it('A2: hashes are made at exactly the calibrated argon2id parameters (m=19456, t=2, p=1)', async () => {
    assert.deepEqual(
      { ...ARGON2_PARAMS },
      { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 },
      'the work per hash changed: re-measure A2 with `npm run bench` before changing this test',
    );
    const passwords = new Passwords(1);
    const stored = await passwords.hash('a passphrase of some length');
    assert.match(stored, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22,}\$[A-Za-z0-9+/]{43,}$/);
    assert.equal(passwords.needsRehash(stored), false);
  });

  it('A2: p95 of 40 hashes stays under the cheat sheet’s 1 s contract bound', async () => {
    const passwords = new Passwords(1);
    const durations: number[] = [];
    for (let i = 0; i < 40; i++) {
      const started = performance.now();
      await passwords.hash(`a passphrase of some length ${i}`);
      durations.push(performance.now() - started);
    }
    durations.sort((a, b) => a - b);
    const p95 = durations[37] as number;
    // A contract bound, not a calibration: CS-PS asks for "less than one second". A hash takes about
    // 80 ms here (≈ 12× under the bound) and the bench's *ours* bar is 250 ms (4× under it), so a
    // parameter change can cross it, a busy neighbour cannot.
    assert.ok(p95 < 1000, `p95 ${p95.toFixed(1)} ms`);
  });
});
