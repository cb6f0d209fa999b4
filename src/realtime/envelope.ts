/**
 * The wire shapes of the real-time API (docs/realtime.md): server → client
 * events are `{ type, data, at }`; client → server events are answered through
 * their ack with `{ ok: true, data }` or `{ ok: false, error: { code, message } }`,
 * the codes being the HTTP API's.
 */
import { AppError } from '../errors.ts';

export interface ServerEvent<T = unknown> {
  type: string;
  data: T;
  /** When the server emitted it (ISO 8601). */
  at: string;
}

export type Ack =
  | { ok: true; data: unknown }
  | { ok: false; error: { code: string; message: string; retryAfterMs?: number } };

export function serverEvent<T>(type: string, data: T): ServerEvent<T> {
  return { type, data, at: new Date().toISOString() };
}

/** The error ack of `err`; anything but an AppError is an internal error whose detail stays in the log. */
export function errorAck(err: unknown, retryAfterMs?: number): Ack {
  if (err instanceof AppError) {
    const message = err.status >= 500 ? err.title : err.message;
    return {
      ok: false,
      error: { code: err.code, message, ...(retryAfterMs !== undefined && { retryAfterMs }) },
    };
  }
  return { ok: false, error: { code: 'INTERNAL', message: 'Internal server error' } };
}
