import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkText } from '../../src/lib/text.ts';
import { displayNameOr } from '../../src/modules/users/index.ts';

describe('text policy (SPEC §5, RELIABILITY D10)', () => {
  const refused = (value: string) => {
    const checked = checkText(value, 64);
    assert.equal(checked.ok, false, JSON.stringify(value));
    return checked.ok ? '' : checked.problem;
  };

  it('refuses NUL, C0/C1 controls, bidi overrides and isolates, and lone surrogates', () => {
    assert.match(refused('a\u0000b'), /control/);
    assert.match(refused('a\u0007b'), /control/);
    assert.match(refused('a\u0085b'), /control/);
    assert.match(refused('a\u009bb'), /control/);
    for (const bidi of ['\u202a', '\u202e', '\u2066', '\u2069']) assert.match(refused(`ab${bidi}c`), /bidi/);
    assert.match(refused('a\ud800'), /surrogate/);
  });

  it('refuses blank values, invisible characters counting as blank', () => {
    for (const blank of ['', '   ', '\u200d', '\u200b\u200c\u2060\ufeff', ' \u3164 ', '\u00a0']) {
      assert.match(refused(blank), /blank/);
    }
  });

  it('normalises to NFC, keeps the rest verbatim, and counts code points, not UTF-16 units', () => {
    assert.deepEqual(checkText('  Zoe\u0308  ', 64), { ok: true, text: '  Zo\u00eb  ' });
    const emoji = '🚀'.repeat(64);
    assert.equal(emoji.length, 128);
    assert.deepEqual(checkText(emoji, 64), { ok: true, text: emoji });
    assert.match(refused('a'.repeat(65)), /64 characters/);
    // 64 letters each with a combining mark: 128 code points in NFD, 64 in NFC.
    assert.equal(checkText('e\u0301'.repeat(64), 64).ok, true);
    assert.equal(checkText('👩‍👩‍👧‍👦', 64).ok, true, 'a ZWJ sequence with visible parts is not blank');
  });
});

describe('display names from an identity provider', () => {
  it('a name claim that breaks the policy (or is absent) falls back instead of failing the sign-in', () => {
    assert.equal(displayNameOr(' Ada\u0301 ', 'x'), ' Ad\u00e1 ');
    assert.equal(displayNameOr('evil\u202egnp.exe', 'ada'), 'ada');
    assert.equal(displayNameOr('\u200d', 'ada'), 'ada');
    assert.equal(displayNameOr('a'.repeat(65), 'ada'), 'ada');
    assert.equal(displayNameOr(42, 'ada'), 'ada');
  });
});
