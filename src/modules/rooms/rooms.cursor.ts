/**
 * Opaque, tamper-checked cursors: base64url JSON plus an HMAC-SHA256 tag
 * under a key derived from the deployment's signing secret (shared by every
 * instance), so a cursor works on any instance and an edited one is refused
 * with CURSOR_INVALID rather than read.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { AppError, Errors } from '../../errors.ts';

export class CursorCodec {
  readonly #key: Buffer;

  /** `secret` undefined (embedded mode without JWT_SECRET): a per-process key, enough for one process. */
  constructor(secret: string | undefined) {
    const ikm = secret ?? randomBytes(32).toString('base64url');
    this.#key = Buffer.from(hkdfSync('sha256', ikm, 'parley', 'room-cursor-v1', 32));
  }

  encode(kind: string, value: unknown): string {
    const body = Buffer.from(JSON.stringify({ k: kind, v: value })).toString('base64url');
    return `${body}.${this.#tag(body)}`;
  }

  /** The value of a cursor this codec issued for `kind`; throws CURSOR_INVALID otherwise. */
  decode(kind: string, cursor: string): unknown {
    const [body, tag, extra] = cursor.split('.');
    if (!body || !tag || extra !== undefined) throw invalid();
    const expected = Buffer.from(this.#tag(body));
    const given = Buffer.from(tag);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();
    const parsed = JSON.parse(Buffer.from(body, 'base64url').toString()) as { k?: unknown; v?: unknown };
    if (parsed.k !== kind) throw invalid();
    return parsed.v;
  }

  #tag(body: string): string {
    return createHmac('sha256', this.#key).update(body).digest('base64url').slice(0, 22);
  }
}

function invalid(): AppError {
  return new AppError(Errors.CURSOR_INVALID);
}
