import { defineErrors } from '../../errors.ts';

export const UserErrors = defineErrors({
  USER_NOT_FOUND: { status: 404, title: 'No such user' },
});
