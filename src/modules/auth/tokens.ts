/**
 * Access tokens (JWT via fast-jwt: synchronous verify) and refresh
 * tokens (opaque, 256-bit). The verifier accepts exactly one algorithm, the
 * `at+jwt` type, Parley's issuer and audience, and requires exp, iat, sub, sid
 * and jti; header keys (jwk, jku, x5u, x5c, kid) are never used to find a key.
 *
 * A refresh token's successor is derived, not random: HMAC(refreshKey, token).
 * Concurrent refreshes of one token therefore compute the same successor, and
 * the server never stores a raw refresh token — only SHA-256 digests.
 */
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createSigner, createVerifier } from 'fast-jwt';
import { LRUCache } from 'lru-cache';
import type { SigningKey } from './signing-key.ts';

export const ISSUER = 'parley';
export const AUDIENCE = 'parley-api';
const TYPE = 'at+jwt';

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
   * Claims of tokens that verified, keyed by the token itself. fast-jwt's own
   * cache keys by a SHA-256 of the token, which costs as much as the rest of an
   * authenticated request's own work; a string key costs a hash of it. Expiry
   * is re-checked on every hit.
   */
  readonly #verified = new LRUCache<string, AccessClaims>({ max: 10_000 });

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
    }) as (token: string) => AccessClaims;
  }

  issue(userId: string, sessionId: string): string {
    return this.#sign({ sub: userId, sid: sessionId, jti: randomUUID() });
  }

  /** The token's claims; throws on any invalid token (signature, algorithm, type, claims, expiry). */
  verify(token: string): AccessClaims {
    const known = this.#verified.get(token);
    if (known && known.exp * 1000 > Date.now()) return known;
    const claims = Object.freeze(this.#verify(token));
    this.#verified.set(token, claims);
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
