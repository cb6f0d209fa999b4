import { type Static, Type } from 'typebox';

export const UserIdParams = Type.Object(
  { id: Type.String({ format: 'uuid' }) },
  { additionalProperties: false },
);

/**
 * A coarse bound only: the text policy (src/lib/text.ts, applied by UsersService)
 * decides, counting at most 64 code points after NFC — an NFD name with combining
 * marks may arrive longer than it is stored.
 */
export const DisplayName = Type.String({
  minLength: 1,
  maxLength: 256,
  description:
    'Up to 64 characters (code points, after NFC); no control or bidi-override characters; not blank',
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
      Type.Union([
        Type.String({
          minLength: 1,
          maxLength: 2048,
          description: 'An https URL without user-info; the server never fetches it',
        }),
        Type.Null(),
      ]),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);
