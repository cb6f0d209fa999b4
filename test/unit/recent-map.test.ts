import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecentMap } from '../../src/lib/recent-map.ts';

describe('RecentMap', () => {
  it('keeps at most its bound, dropping the entries read least recently', () => {
    const map = new RecentMap<number, string>(10);
    for (let i = 0; i < 100; i++) {
      map.set(i, `v${i}`);
      assert.equal(map.get(0), 'v0', 'an entry read after every insertion stays');
      assert.ok(map.size <= 10, `size ${map.size} after ${i + 1} insertions`);
    }
    assert.equal(map.get(1), undefined, 'an entry never read again is gone');
    assert.equal(map.get(99), 'v99');
  });

  it('overwrites, deletes and clears in both generations', () => {
    const map = new RecentMap<string, number>(4);
    map.set('a', 1);
    map.set('b', 2);
    map.set('c', 3); // a and b move to the previous generation
    map.set('a', 10);
    assert.equal(map.get('a'), 10);
    map.delete('b');
    assert.equal(map.get('b'), undefined);
    map.clear();
    assert.equal(map.size, 0);
    assert.equal(map.get('c'), undefined);
  });
});
