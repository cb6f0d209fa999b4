import { type Static, Type } from 'typebox';

export const UserIdParams = Type.Object(
  { id: Type.String({ format: 'uuid' }) },
  { additionalProperties: false },
);

export const PublicProfile = Type.Object({
  id: Type.String({ format: 'uuid' }),
  displayName: Type.String(),
  avatarUrl: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
});
export type PublicProfile = Static<typeof PublicProfile>;

export const UpdateMeBody = Type.Object(
  {
    displayName: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }),
    ),
    avatarUrl: Type.Optional(
      Type.Union([Type.String({ format: 'uri', pattern: '^https://', maxLength: 2048 }), Type.Null()]),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);
