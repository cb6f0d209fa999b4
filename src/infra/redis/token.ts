/**
 * Tokens for generations, locks and versions: unique, not secret — a random
 * prefix per process and a counter, so a token costs no call into the random
 * generator (a turn's call takes one). Lock tokens are only compared by their owner.
 */
import { randomBytes } from 'node:crypto';

const PREFIX = `${randomBytes(12).toString('base64url')}.`;
let issued = 0;

export function uniqueToken(): string {
  return PREFIX + (issued++).toString(36);
}
