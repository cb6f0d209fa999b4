/**
 * The only body parser: `application/json`, decoded strictly. Invalid UTF-8,
 * a byte-order mark, an empty body, unpaired surrogate escapes and
 * `__proto__`/`constructor.prototype` keys and nesting deeper than
 * MAX_JSON_DEPTH are all 400 MALFORMED_BODY; any other media type (text/plain and
 * form posts included) is 415. Fastify's default parser would accept
 * replacement characters for invalid bytes and also parse text/plain.
 * Bodies are capped by BODY_LIMIT (default 16 KiB, SPEC §5; a route needing
 * more sets its own `bodyLimit`) before they reach this parser.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import sjson from 'secure-json-parse';
import { AppError, Errors } from '../errors.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Deepest array/object nesting accepted. No Parley body nests beyond 3; a cap
 * keeps the recursive reviver and validators far from the stack limit (an
 * 8,000-deep array within 16 KiB overflowed it and echoed the RangeError).
 */
export const MAX_JSON_DEPTH = 32;

/** One linear pass over the raw text, outside strings; needs no stack, so runs before parsing. */
function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * JSON reviver: `"\uD800"` is valid JSON but not valid Unicode; stored as-is it
 * would silently become U+FFFD in MySQL's utf8mb4. Refuse it in keys and values.
 */
function wellFormed(key: string, value: unknown): unknown {
  if (!key.isWellFormed() || (typeof value === 'string' && !value.isWellFormed())) {
    throw new AppError(Errors.MALFORMED_BODY, 'The body contains an unpaired UTF-16 surrogate');
  }
  return value;
}

export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) throw new AppError(Errors.MALFORMED_BODY, 'The body is empty');
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new AppError(Errors.MALFORMED_BODY, 'The body is not valid UTF-8');
  }
  // RFC 8259 forbids senders to add a BOM; a BOM here means a mis-encoded client, so say so.
  if (text.charCodeAt(0) === 0xfeff)
    throw new AppError(Errors.MALFORMED_BODY, 'The body starts with a byte-order mark');
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new AppError(Errors.MALFORMED_BODY, `The body nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  let parsed: unknown;
  try {
    parsed = sjson.parse(text, wellFormed, { protoAction: 'error', constructorAction: 'error' });
  } catch (err) {
    if (err instanceof AppError) throw err;
    // A SyntaxError describes the client's text; anything else is ours and stays in the server.
    const why = err instanceof SyntaxError ? `: ${err.message}` : '';
    throw new AppError(Errors.MALFORMED_BODY, `The body is not valid JSON${why}`, { cause: err });
  }
  return parsed;
}

async function jsonBody(app: FastifyInstance): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}

export default fp(jsonBody, { name: 'json-body' });
