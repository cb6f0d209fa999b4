import { Type } from 'typebox';
import { Account, DisplayName } from '../users/index.ts';

const strict = { additionalProperties: false } as const;

/** Trimmed and lower-cased by the service, which then checks the address format. */
export const Email = Type.String({ minLength: 3, maxLength: 254 });
/** The policy (8–128 characters, not common) is checked by the service; this only bounds the input (1 KiB). */
export const Password = Type.String({ minLength: 1, maxLength: 1024 });

export const RegisterBody = Type.Object(
  { email: Email, password: Password, displayName: DisplayName },
  strict,
);
export const LoginBody = Type.Object({ email: Email, password: Password }, strict);
export const RefreshBody = Type.Object(
  { refreshToken: Type.String({ minLength: 1, maxLength: 256 }) },
  strict,
);
export const ChangePasswordBody = Type.Object({ currentPassword: Password, newPassword: Password }, strict);
export const OidcProviderParams = Type.Object(
  { provider: Type.String({ pattern: '^[a-z][a-z0-9-]{0,30}$' }) },
  strict,
);
export const SessionIdParams = Type.Object({ id: Type.String({ format: 'uuid' }) }, strict);
export const UserIdParams = Type.Object({ id: Type.String({ format: 'uuid' }) }, strict);
export const DeleteAccountBody = Type.Object({ password: Password }, strict);
export const NoContent = Type.Null({ description: 'Done' });

export const AuthResult = Type.Object({
  user: Account,
  accessToken: Type.String(),
  refreshToken: Type.String(),
  expiresIn: Type.Integer({ description: 'Access-token lifetime in seconds' }),
});

export const Session = Type.Object({
  id: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  current: Type.Boolean(),
});
