import { defineErrors } from '../../errors.ts';

export const RateLimitErrors = defineErrors({
  RATE_LIMITED: { status: 429, title: 'Too many requests; retry after the indicated time' },
  RATE_LIMIT_UNAVAILABLE: {
    status: 503,
    title: 'This action is paused while its abuse protection is unavailable',
  },
});
