/**
 * Access tokens (JWT via fast-jwt: synchronous verify) and refresh
 * tokens (opaque, 256-bit). The verifier accepts exactly one algorithm, the
 * `at+jwt` type, Parley's issuer and audience, and requires exp, iat (not in
 * the future beyond the clock tolerance), sub, sid and jti; header keys (jwk, jku, x5u, x5c, kid) are never used to find a key.
 *
 * A refresh token's successor is derived, not random: HMAC(refreshKey, token).
 * Concurrent refreshes of one token therefore compute the same successor, and
 * the server never stores a raw refresh token — only SHA-256 digests.
 */
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createSigner, createVerifier } from 'fast-jwt';
import { RecentMap } from '../../lib/recent-map.ts';
import type { SigningKey } from './signing-key.ts';

export const ISSUER = 'parley';
export const AUDIENCE = 'parley-api';
const TYPE = 'at+jwt';
/**
 * Leeway for clocks of instances that disagree (RFC 7519 §4.1.4): `exp` and `nbf`
 * are honoured this much late or early, and a token whose `iat` lies further
 * in the future was not issued by a sane clock of ours — refused.
 */
export const CLOCK_TOLERANCE_MS = 5_000;

export interface AccessClaims {
  sub: string;
  sid: string;
  jti: string;
  iat: number;
  exp: number;
}

export class AccessTokens {
  readonly #sign: (payload: object) => string;
  readonly #verify: (token: string) => AccessClaims;
  /**
   * Claims of tokens that verified, by the token's signature (its last segment), with the
   * whole token compared on a hit. fast-jwt's own cache keys by a SHA-256 of the token, which
   * costs as much as the rest of an authenticated request's own work; keying by the whole
   * token costs hashing its ~300 characters on every lookup (a fresh string each request).
   * The signature is as unique and a seventh of the length, and the comparison is a memcmp.
   * Expiry is re-checked on every hit.
   */
  readonly #verified = new RecentMap<string, { token: string; claims: AccessClaims }>(10_000);

  constructor(key: SigningKey, ttlMs: number) {
    this.#sign = createSigner({
      key: key.sign,
      algorithm: key.algorithm,
      expiresIn: ttlMs,
      iss: ISSUER,
      aud: AUDIENCE,
      header: { typ: TYPE, alg: key.algorithm },
    });
    this.#verify = createVerifier({
      key: key.verify,
      algorithms: [key.algorithm],
      allowedIss: ISSUER,
      allowedAud: AUDIENCE,
      requiredClaims: ['exp', 'iat', 'sub', 'sid', 'jti'],
      checkTyp: TYPE,
      clockTolerance: CLOCK_TOLERANCE_MS,
    }) as (token: string) => AccessClaims;
  }

  issue(userId: string, sessionId: string): string {
    return this.#sign({ sub: userId, sid: sessionId, jti: randomUUID() });
  }

  /**
   * The token's claims; throws on any invalid token (shape, signature, algorithm, type, claims,
   * expiry). A token equal to one verified before is only checked for expiry. fast-jwt signs and
   * compares the segments as sent, so characters base64url decoding would skip change the token.
   */
  verify(token: string): AccessClaims {
    const now = Date.now();
    const signature = token.slice(token.lastIndexOf('.') + 1);
    const known = this.#verified.get(signature);
    if (known?.token === token && known.claims.exp * 1000 + CLOCK_TOLERANCE_MS > now) return known.claims;
    const claims = Object.freeze(this.#verify(token));
    // fast-jwt checks `iat` only against maxAge, never against the future.
    if (claims.iat * 1000 > now + CLOCK_TOLERANCE_MS) throw new Error('token issued in the future');
    this.#verified.set(signature, { token, claims });
    return claims;
  }
}

export class RefreshTokens {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    this.#key = key;
  }

  /** A fresh 256-bit token. */
  create(): string {
    return randomBytes(32).toString('base64url');
  }

  /** The token that replaces `token` on rotation; the same for every concurrent refresh of `token`. */
  successor(token: string): string {
    return createHmac('sha256', this.#key).update(token).digest('base64url');
  }

  /** What SQL stores: a SHA-256 digest, hex. */
  digest(token: string): string {
    return createHash('sha256').update(token).digest('hex');
  }
}
