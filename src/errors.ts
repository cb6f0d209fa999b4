/**
 * The error registry. Every error a client can see has a stable `code`
 * (documented in docs/errors.md, never reused for another meaning) with a fixed
 * HTTP status and title. Modules declare their codes with `defineErrors`, which
 * refuses duplicates at import time, and throw `AppError`s; the HTTP layer
 * renders them as RFC 9457 problem+json.
 */

export interface ErrorDefinition {
  status: number;
  title: string;
}

const registry = new Map<string, ErrorDefinition>();

/** Declares a module's codes; the object keys are the codes. Throws if a code already exists. */
export function defineErrors<const T extends Record<string, ErrorDefinition>>(
  defs: T,
): { [K in keyof T]: K } {
  const codes = {} as { [K in keyof T]: K };
  for (const [code, def] of Object.entries(defs)) {
    if (registry.has(code)) throw new Error(`error code ${code} is defined twice`);
    registry.set(code, def);
    (codes as Record<string, string>)[code] = code;
  }
  return codes;
}

/** Every registered code, for the docs test and the OpenAPI description. */
export function registeredErrors(): ReadonlyMap<string, ErrorDefinition> {
  return registry;
}

export const Errors = defineErrors({
  VALIDATION_FAILED: { status: 400, title: 'The request did not match the schema' },
  MALFORMED_BODY: { status: 400, title: 'The request body could not be parsed' },
  BAD_REQUEST: { status: 400, title: 'The request is not valid HTTP for this server' },
  CURSOR_INVALID: { status: 400, title: 'The cursor is not one this list issued' },
  NOT_FOUND: { status: 404, title: 'No such resource' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'This resource does not support this method; see Allow' },
  REQUEST_TIMEOUT: { status: 408, title: 'The request did not arrive in time' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'The request body is larger than allowed' },
  URI_TOO_LONG: { status: 414, title: 'The request URL is longer than allowed' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'The request body must be application/json' },
  HEADERS_TOO_LARGE: { status: 431, title: 'The request headers are larger than allowed' },
  SERVICE_UNAVAILABLE: { status: 503, title: 'A dependency is unavailable; retry shortly' },
  INTERNAL: { status: 500, title: 'Internal server error' },
});

export interface FieldError {
  field: string;
  message: string;
}

export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly title: string;
  readonly fields: FieldError[] | undefined;
  /** Extra response headers, e.g. Retry-After. */
  readonly headers: Record<string, string>;

  constructor(
    code: string,
    detail?: string,
    options: { fields?: FieldError[]; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    const def = registry.get(code);
    if (!def) throw new Error(`unregistered error code ${code}`);
    super(detail ?? def.title, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = def.status;
    this.title = def.title;
    this.fields = options.fields;
    this.headers = options.headers ?? {};
  }
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  instance?: string;
  requestId?: string;
  errors?: FieldError[];
}

/** RFC 9457 body. `detail` is shown for 4xx only: a 5xx must not leak internals. */
export function toProblem(error: AppError, context: { instance?: string; requestId?: string }): Problem {
  const problem: Problem = {
    type: `urn:parley:error:${error.code}`,
    title: error.title,
    status: error.status,
    code: error.code,
    ...context,
  };
  if (error.status < 500 && error.message !== error.title) problem.detail = error.message;
  if (error.fields) problem.errors = error.fields;
  return problem;
}
