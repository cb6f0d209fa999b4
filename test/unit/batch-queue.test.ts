import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchQueue } from '../../src/lib/batch-queue.ts';

describe('BatchQueue', () => {
  it('runs the keys of one turn as one batch, those added meanwhile as the next, at most `max` a batch, one at a time', async () => {
    const batches: string[][] = [];
    let running = 0;
    const queue = new BatchQueue<string, string>(
      async (keys) => {
        running += 1;
        assert.equal(running, 1, 'one batch at a time');
        batches.push(keys);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running -= 1;
        return new Map(keys.filter((k) => k !== 'none').map((k) => [k, k.toUpperCase()]));
      },
      { max: 3 },
    );
    const first = ['a', 'b', 'a', 'none'].map((k) => queue.add(k));
    await new Promise((resolve) => setImmediate(resolve));
    const meanwhile = queue.add('c');
    assert.deepEqual(await Promise.all([...first, meanwhile]), ['A', 'B', 'A', undefined, 'C']);
    assert.deepEqual(
      batches,
      [
        ['a', 'b'],
        ['none', 'c'],
      ],
      'distinct keys; the fourth add waits for a batch',
    );
  });

  it('answers adders in the order they added, and rejects a failed batch’s adders only', async () => {
    let calls = 0;
    const queue = new BatchQueue<number, number>(
      async (keys) => {
        calls += 1;
        if (calls === 1) throw new Error('down');
        return new Map(keys.map((k) => [k, k]));
      },
      { max: 10 },
    );
    const order: number[] = [];
    const failed = queue.add(1).catch((err: Error) => err.message);
    await new Promise((resolve) => setImmediate(resolve));
    const later = [2, 3, 4].map((k) => queue.add(k).then((v) => order.push(v as number)));
    assert.equal(await failed, 'down');
    await Promise.all(later);
    assert.deepEqual(order, [2, 3, 4]);
  });

  it('with a window, keys added within it share the batch', async () => {
    const batches: number[][] = [];
    const queue = new BatchQueue<number>(
      async (keys) => {
        batches.push(keys);
        return undefined;
      },
      { max: 10, windowMs: 50 },
    );
    const one = queue.add(1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await Promise.all([one, queue.add(2)]);
    assert.deepEqual(batches, [[1, 2]]);
  });
});
