/**
 * Input rules of rooms beyond what the schemas express: the shared text policy
 * (src/lib/text.ts) for names and topics, language tags, and slugs.
 */
import { randomBytes } from 'node:crypto';
import { AppError, Errors, type FieldError } from '../../errors.ts';
import { checkText } from '../../lib/text.ts';
import { NAME_MAX, TOPIC_MAX } from './rooms.schemas.ts';

const TEXT_MAX = { name: NAME_MAX, topic: TOPIC_MAX } as const;

const languageNames = new Intl.DisplayNames(['en'], { type: 'language', fallback: 'none' });

/** The canonical form of a BCP 47 tag whose language is one ICU knows, or undefined. */
export function canonicalLanguage(tag: string): string | undefined {
  let canonical: string;
  try {
    [canonical = ''] = Intl.getCanonicalLocales(tag);
  } catch {
    return undefined;
  }
  const primary = canonical.split('-')[0] ?? '';
  if (canonical.length > 35 || !/^[a-z]{2,3}$/.test(primary)) return undefined;
  return languageNames.of(primary) === undefined ? undefined : canonical;
}

/**
 * Validates the person-typed and language fields of a request; throws one
 * VALIDATION_FAILED listing every failing field. Returns the values to store
 * (NFC text, canonical language).
 */
export function checkRoomInput<T extends { name?: string; topic?: string | null; language?: string }>(
  input: T,
): T {
  const fields: FieldError[] = [];
  const out: Record<string, unknown> = { ...input };
  for (const field of ['name', 'topic'] as const) {
    const value = input[field];
    if (typeof value !== 'string') continue;
    const checked = checkText(value, TEXT_MAX[field]);
    if (checked.ok) out[field] = checked.text;
    else fields.push({ field: `body.${field}`, message: checked.problem });
  }
  if (input.language !== undefined) {
    const language = canonicalLanguage(input.language);
    if (language) out.language = language;
    else fields.push({ field: 'body.language', message: 'must be a BCP 47 tag of a known language' });
  }
  if (fields.length > 0) {
    throw new AppError(Errors.VALIDATION_FAILED, fields.map((f) => `${f.field} ${f.message}`).join('; '), {
      fields,
    });
  }
  return out as T;
}

/** `querystring.language` checked the same way; throws VALIDATION_FAILED. */
export function checkLanguageQuery(language: string): string {
  const canonical = canonicalLanguage(language);
  if (canonical) return canonical;
  const field = { field: 'querystring.language', message: 'must be a BCP 47 tag of a known language' };
  throw new AppError(Errors.VALIDATION_FAILED, `${field.field} ${field.message}`, { fields: [field] });
}

const SLUG_MAX = 60;

/** ASCII slug of a name: accents dropped, other characters as hyphens; "room" when nothing is left. */
export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, SLUG_MAX)
    .replace(/^-+|-+$/g, '');
  return slug || 'room';
}

/** `slug` with a random suffix, for when it is taken. */
export function suffixed(slug: string): string {
  return `${slug}-${randomBytes(4).readUInt32BE(0).toString(36)}`;
}
