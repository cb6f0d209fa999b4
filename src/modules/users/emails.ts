/**
 * The one email policy, used by every sign-in path (password, OIDC, recovery):
 * a WHATWG "valid e-mail address" local part, a domain in its ASCII (IDNA)
 * form, lower-cased. IDNA maps NFC and NFD spellings of a domain to the same
 * A-label, so one mailbox is one account however a client or provider
 * composed its characters.
 */
import { domainToASCII } from 'node:url';

// WHATWG HTML §4.10.5.1.5 ("valid e-mail address"), split into its two halves.
const LOCAL = /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** The canonical form of an email address, or undefined when it is not a valid address (≤ 254 characters). */
export function normalizeEmail(input: string): string | undefined {
  const text = input.trim().normalize('NFC').toLowerCase();
  const at = text.lastIndexOf('@');
  if (at <= 0) return undefined;
  const local = text.slice(0, at);
  const domain = domainToASCII(text.slice(at + 1));
  if (!LOCAL.test(local) || domain === '') return undefined;
  const labels = domain.split('.');
  // A dot is required: intranet hosts are not where Parley's users receive mail.
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return undefined;
  const email = `${local}@${domain}`;
  return email.length <= 254 ? email : undefined;
}
