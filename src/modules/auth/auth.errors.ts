import { defineErrors } from '../../errors.ts';

export const AuthErrors = defineErrors({
  AUTH_INVALID_CREDENTIALS: { status: 401, title: 'Invalid email or password' },
  AUTH_UNAUTHENTICATED: { status: 401, title: 'A valid access token is required' },
  AUTH_REFRESH_INVALID: { status: 401, title: 'The refresh token is invalid, expired or revoked' },
  AUTH_EMAIL_TAKEN: { status: 409, title: 'An account with this email already exists' },
  AUTH_WEAK_PASSWORD: { status: 400, title: 'The password does not meet the password policy' },
  AUTH_SESSION_NOT_FOUND: { status: 404, title: 'No such session' },
  AUTH_FORBIDDEN: { status: 403, title: 'This action needs the admin role' },
});

export const OidcErrors = defineErrors({
  AUTH_OIDC_PROVIDER_UNKNOWN: { status: 404, title: 'No such sign-in provider' },
  AUTH_OIDC_FLOW_INVALID: {
    status: 400,
    title: 'The sign-in attempt is unknown, expired or already used; start again',
  },
  AUTH_OIDC_FAILED: { status: 401, title: 'The identity provider did not confirm the sign-in' },
  AUTH_OIDC_EMAIL_UNVERIFIED: {
    status: 409,
    title:
      'The provider did not verify this email, and an account already uses it; sign in with a password first',
  },
});
