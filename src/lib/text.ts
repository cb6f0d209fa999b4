/**
 * The one policy for text a person typed (display names, room names, topics,
 * messages; SPEC §5): NFC-normalised, otherwise kept verbatim (leading and
 * trailing spaces included: what was typed is what is read back, RELIABILITY
 * D9); no C0/C1 control characters
 * (NUL included), no bidi overrides or isolates (U+202A–202E, U+2066–2069:
 * they reorder what readers see, "Trojan Source"), no unpaired surrogates (MySQL
 * utf8mb4 would store U+FFFD); not blank, where whitespace and invisible
 * characters (zero-width space/joiners, word joiner, BOM, Hangul fillers — every
 * Default_Ignorable_Code_Point) count as blank; at most `maxCodePoints` code
 * points, so an emoji counts as one, not two UTF-16 units. The stored text is
 * returned as JSON exactly as stored, never HTML-escaped: escaping is the
 * renderer's job.
 */

export type TextCheck = { ok: true; text: string } | { ok: false; problem: string };

/** General category Cc: exactly C0 (NUL included), DEL and C1. */
const CONTROL = /\p{Cc}/u;
const BIDI_CONTROL = /[\u202a-\u202e\u2066-\u2069]/u;
const BLANK = /^[\p{White_Space}\p{Default_Ignorable_Code_Point}]*$/u;

function codePoints(text: string, stopAfter: number): number {
  let n = 0;
  for (const _ of text) if (++n > stopAfter) break;
  return n;
}

/** The text as it is to be stored, or why it is refused (a phrase completing "<field> …"). */
export function checkText(value: string, maxCodePoints: number): TextCheck {
  if (!value.isWellFormed()) return { ok: false, problem: 'contains an unpaired surrogate' };
  if (CONTROL.test(value)) return { ok: false, problem: 'contains a control character' };
  if (BIDI_CONTROL.test(value)) return { ok: false, problem: 'contains a bidirectional override' };
  const text = value.normalize('NFC');
  if (BLANK.test(text)) return { ok: false, problem: 'is blank' };
  if (codePoints(text, maxCodePoints) > maxCodePoints) {
    return { ok: false, problem: `must not be longer than ${maxCodePoints} characters` };
  }
  return { ok: true, text };
}
