import { Type } from 'typebox';
import { Account, DisplayName } from '../users/index.ts';
import { PASSWORD_MAX, PASSWORD_MIN } from './passwords.ts';

const strict = { additionalProperties: false } as const;

/** Trimmed and lower-cased by the service, which then checks the address format. */
export const Email = Type.String({ minLength: 3, maxLength: 254 });
/**
 * A password being chosen. JSON Schema lengths count code points, as the policy
 * does; the rest of the policy (no NUL, well-formed, not common) is the service's.
 */
export const NewPassword = Type.String({
  minLength: PASSWORD_MIN,
  maxLength: PASSWORD_MAX,
  description: `${PASSWORD_MIN}–${PASSWORD_MAX} characters (Unicode code points), never truncated or transformed; not NUL, not one of the 10,000 most common passwords`,
});
/**
 * A password being presented: bounded only, not held to today's policy, so an
 * account keeps signing in if the policy ever tightens.
 */
export const Password = Type.String({ minLength: 1, maxLength: 1024, description: "The account's password" });

export const RegisterBody = Type.Object(
  { email: Email, password: NewPassword, displayName: DisplayName },
  strict,
);
export const LoginBody = Type.Object({ email: Email, password: Password }, strict);
export const RefreshBody = Type.Object(
  { refreshToken: Type.String({ minLength: 1, maxLength: 256 }) },
  strict,
);
export const ChangePasswordBody = Type.Object(
  { currentPassword: Password, newPassword: NewPassword },
  strict,
);
export const OidcProviderParams = Type.Object(
  { provider: Type.String({ pattern: '^[a-z][a-z0-9-]{0,30}$' }) },
  strict,
);
export const SESSIONS_PAGE_SIZE = 20;
export const SessionsQuery = Type.Object(
  {
    cursor: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: '`nextCursor` of the previous page' }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: SESSIONS_PAGE_SIZE })),
  },
  strict,
);
export const SessionIdParams = Type.Object({ id: Type.String({ format: 'uuid' }) }, strict);
export const UserIdParams = Type.Object({ id: Type.String({ format: 'uuid' }) }, strict);
export const DeleteAccountBody = Type.Object({ password: Password }, strict);

export const AuthResult = Type.Object({
  user: Account,
  accessToken: Type.String(),
  refreshToken: Type.String(),
  expiresIn: Type.Integer({ description: 'Access-token lifetime in seconds' }),
});

export const Session = Type.Object({
  id: Type.String({ format: 'uuid' }),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  current: Type.Boolean(),
});

/** Newest first; `nextCursor` is null on the last page. */
export const SessionPage = Type.Object({
  items: Type.Array(Session),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

export const NoContent = Type.Null({ description: 'Done; no body' });
