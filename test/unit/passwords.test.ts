/**
 * The cost of one password hash (RELIABILITY A2): high enough to slow guessing
 * (the parameters are checked by A1), low enough that a login never waits on
 * the hash for long — 100 hashes timed one at a time, p95 ≤ 250 ms.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Passwords } from '../../src/modules/auth/passwords.ts';

describe('password hashing', () => {
  it('A2: 100 argon2id hashes at the shipped parameters, p95 ≤ 250 ms', async () => {
    const passwords = new Passwords(1);
    const durations: number[] = [];
    for (let i = 0; i < 100; i++) {
      const started = performance.now();
      await passwords.hash(`a passphrase of some length ${i}`);
      durations.push(performance.now() - started);
    }
    durations.sort((a, b) => a - b);
    const p95 = durations[94] as number;
    assert.ok(p95 <= 250, `p95 ${p95.toFixed(1)} ms`);
  });
});
