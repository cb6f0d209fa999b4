import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { TurnBatch } from '../../src/infra/cache/turn-batch.ts';

describe('TurnBatch', () => {
  it('joins the reads of a key within a turn and sends anew in every later turn, however often the key comes back', async () => {
    const batch = new TurnBatch();
    let sent = 0;
    const read = (key: string) => batch.read(key, async () => `${key}#${++sent}`);
    for (let turn = 1; turn <= 3; turn++) {
      const [a, b, other] = await Promise.all([read('k'), read('k'), read('other')]);
      assert.equal(a, b, `turn ${turn}: the second read joins the first`);
      assert.notEqual(a, other);
      assert.equal(sent, 2 * turn, `turn ${turn}: one read per key, none joined from an earlier turn`);
      await nextTurn();
    }
  });

  it('joins no read sent before `forget` within the same turn', async () => {
    const batch = new TurnBatch();
    let sent = 0;
    const first = batch.read('k', async () => ++sent);
    batch.forget(['k']);
    const second = batch.read('k', async () => ++sent);
    const third = batch.read('k', async () => ++sent);
    assert.deepEqual(await Promise.all([first, second, third]), [1, 2, 2]);
  });
});
