/**
 * The key that signs access tokens and derives refresh-token successors.
 * JWT_PRIVATE_KEY (PEM, Ed25519 → EdDSA or RSA → RS256) or JWT_SECRET (HS256).
 * Without either, embedded mode generates a secret once and keeps it beside the
 * SQLite file (mode 0600); config refuses that shortcut for MySQL and production.
 */
import { createPrivateKey, createPublicKey, hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from '../../config.ts';

export interface SigningKey {
  algorithm: 'HS256' | 'EdDSA' | 'RS256';
  /** What fast-jwt signs with. */
  sign: string | Buffer;
  /** What fast-jwt verifies with. */
  verify: string | Buffer;
  /** 32 bytes for HMAC-deriving refresh-token successors, separate from the signing key. */
  refreshKey: Buffer;
}

function devSecret(config: Readonly<Config>): string {
  const primary = config.db.primary;
  if (primary.dialect !== 'sqlite')
    throw new Error('a development secret is only generated in embedded mode');
  const file = join(dirname(primary.path), 'jwt-secret');
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, randomBytes(48).toString('base64url'), { mode: 0o600, flag: 'wx' });
  }
  return readFileSync(file, 'utf8').trim();
}

export function resolveSigningKey(config: Readonly<Config>): SigningKey {
  const { jwtPrivateKey, jwtSecret } = config.auth;
  if (jwtPrivateKey) {
    const key = createPrivateKey(jwtPrivateKey.replaceAll('\\n', '\n'));
    const type = key.asymmetricKeyType;
    if (type !== 'ed25519' && type !== 'rsa')
      throw new Error(`JWT_PRIVATE_KEY: unsupported key type ${type}`);
    const pem = key.export({ format: 'pem', type: 'pkcs8' });
    return {
      algorithm: type === 'ed25519' ? 'EdDSA' : 'RS256',
      sign: pem,
      verify: createPublicKey(key).export({ format: 'pem', type: 'spki' }),
      refreshKey: Buffer.from(
        hkdfSync('sha256', key.export({ format: 'der', type: 'pkcs8' }), 'parley', 'refresh-successor', 32),
      ),
    };
  }
  const secret = jwtSecret ?? devSecret(config);
  return {
    algorithm: 'HS256',
    sign: secret,
    verify: secret,
    refreshKey: Buffer.from(hkdfSync('sha256', secret, 'parley', 'refresh-successor', 32)),
  };
}
