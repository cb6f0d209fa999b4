import { type Static, Type } from 'typebox';

export const UserIdParams = Type.Object(
  { id: Type.String({ format: 'uuid' }) },
  { additionalProperties: false },
);

/** 1–64 characters, no control characters. */
export const DisplayName = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[^\\u0000-\\u001f\\u007f]+$',
});

/** What a user sees of their own account (GET /v1/me, sign-in responses). */
export const Account = Type.Object({
  id: Type.String(),
  email: Type.String(),
  displayName: Type.String(),
  avatarUrl: Type.Union([Type.String(), Type.Null()]),
  role: Type.Union([Type.Literal('user'), Type.Literal('admin')]),
  createdAt: Type.String({ format: 'date-time' }),
});
export type Account = Static<typeof Account>;

export const PublicProfile = Type.Object({
  id: Type.String({ format: 'uuid' }),
  displayName: Type.String(),
  avatarUrl: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
});
export type PublicProfile = Static<typeof PublicProfile>;

export const UpdateMeBody = Type.Object(
  {
    displayName: Type.Optional(DisplayName),
    avatarUrl: Type.Optional(
      Type.Union([Type.String({ format: 'uri', pattern: '^https://', maxLength: 2048 }), Type.Null()]),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);
