/**
 * unitOfWork retries a transaction that lost a lock race (RELIABILITY G6):
 * MySQL deadlock 1213 / lock-wait 1205, or a TransactionConflict, up to the
 * given retries; after-commit hooks run once, for the attempt that committed.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import {
  TransactionConflict,
  TransactionRetriesExhausted,
  unitOfWork,
} from '../../src/infra/db/unit-of-work.ts';
import { describeBackends } from '../helpers/backends.ts';

const deadlock = () => Object.assign(new Error('Deadlock found when trying to get lock'), { errno: 1213 });

describeBackends('unit of work retries', (b) => {
  it('retries lock races up to the limit; hooks run once, after the commit that succeeded', async () => {
    let attempts = 0;
    let hooks = 0;
    const result = await unitOfWork(
      b.sql().db,
      async (_trx, afterCommit) => {
        afterCommit(async () => {
          hooks += 1;
        });
        attempts += 1;
        if (attempts === 1) throw deadlock();
        if (attempts === 2) throw new TransactionConflict('read went stale');
        return 'done';
      },
      { retries: 3 },
    );
    assert.equal(result, 'done');
    assert.equal(attempts, 3);
    assert.equal(hooks, 1);
  });

  it('gives up after the retries with TransactionRetriesExhausted, and never retries other errors', async () => {
    let attempts = 0;
    await assert.rejects(
      unitOfWork(
        b.sql().db,
        async () => {
          attempts += 1;
          throw Object.assign(new Error('Lock wait timeout exceeded'), { errno: 1205 });
        },
        { retries: 3 },
      ),
      TransactionRetriesExhausted,
    );
    assert.equal(attempts, 4);
    attempts = 0;
    await assert.rejects(
      unitOfWork(
        b.sql().db,
        async () => {
          attempts += 1;
          throw new Error('boom');
        },
        { retries: 3 },
      ),
      /boom/,
    );
    assert.equal(attempts, 1);
  });
});
