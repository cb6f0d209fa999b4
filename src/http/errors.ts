/**
 * The single error handler: turns anything thrown on the HTTP path into an
 * RFC 9457 problem+json with a stable code. Low-level errors are mapped here
 * and nowhere else: Fastify's parser/validation errors become 4xx codes, an
 * unreachable database or fail-closed speed layer becomes 503 + Retry-After,
 * and everything else is a 500 whose body says nothing about internals (the
 * details go to the log, tied to the request id).
 *
 * Every 401 carries `WWW-Authenticate: Bearer` (RFC 9110 §15.5.2), with
 * `error="invalid_token"` when a bearer token was presented and refused (RFC
 * 6750 §3). A path that exists with other methods answers 405 with `Allow`
 * instead of 404 (the router itself only knows method+path pairs).
 *
 * Requests that never reach a route get the same problem+json and security
 * headers: URLs the router cannot decode (`frameworkErrors`), and bytes Node's
 * HTTP parser rejects before Fastify sees a request (`clientErrorHandler`: a head
 * over maxHeaderSize → 431, a header timeout → 408, anything else → 400).
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import { AppError, Errors, type FieldError, toProblem } from '../errors.ts';
import { isDatabaseUnavailable } from '../infra/db/kysely.ts';
import { SpeedLayerUnavailable } from '../infra/redis/health.ts';
import { AuthErrors } from '../modules/auth/index.ts';
import { SECURITY_HEADERS } from './security.ts';

const RETRY_AFTER = { 'retry-after': '5' };

function fieldErrors(error: FastifyError): FieldError[] {
  return (error.validation ?? []).map((v) => {
    const missing = (v.params as { missingProperty?: string; additionalProperty?: string }) ?? {};
    const leaf = missing.missingProperty ?? missing.additionalProperty;
    const path = `${error.validationContext ?? 'body'}${v.instancePath.replaceAll('/', '.')}`;
    return { field: leaf ? `${path}.${leaf}` : path, message: v.message ?? 'is invalid' };
  });
}

/** SERVICE_UNAVAILABLE (503) with Retry-After: this instance or a dependency cannot serve right now. */
export function unavailable(cause?: unknown): AppError {
  return new AppError(Errors.SERVICE_UNAVAILABLE, undefined, { headers: RETRY_AFTER, cause });
}

/** Maps any thrown value to the AppError the client will see. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (isDatabaseUnavailable(error) || error instanceof SpeedLayerUnavailable) return unavailable(error);
  const fastifyError = error as FastifyError;
  if (fastifyError?.validation) {
    const fields = fieldErrors(fastifyError);
    const summary = fields.map((f) => `${f.field} ${f.message}`).join('; ');
    return new AppError(Errors.VALIDATION_FAILED, summary, { fields });
  }
  const status = fastifyError?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Fastify's own 4xx messages describe the request, never the server: safe to show.
    const detail = fastifyError.message;
    if (status === 413) return new AppError(Errors.PAYLOAD_TOO_LARGE, detail);
    if (status === 415) return new AppError(Errors.UNSUPPORTED_MEDIA_TYPE, detail);
    if (fastifyError.code?.startsWith('FST_ERR_CTP_') || error instanceof SyntaxError) {
      return new AppError(Errors.MALFORMED_BODY, detail);
    }
    return new AppError(Errors.BAD_REQUEST, detail);
  }
  return new AppError(Errors.INTERNAL, undefined, { cause: error });
}

const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';
const BEARER_PRESENTED = /^bearer /i;

function wwwAuthenticate(request: FastifyRequest, appError: AppError): Record<string, string> {
  if (appError.status !== 401) return {};
  const rejected =
    appError.code === AuthErrors.AUTH_UNAUTHENTICATED &&
    BEARER_PRESENTED.test(request.headers.authorization ?? '');
  return { 'www-authenticate': rejected ? 'Bearer error="invalid_token"' : 'Bearer' };
}

function sendProblem(request: FastifyRequest, reply: FastifyReply, appError: AppError): FastifyReply {
  // An over-long URL is not echoed back.
  const instance = appError.code === Errors.URI_TOO_LONG ? undefined : request.url.split('?', 1)[0];
  return reply
    .status(appError.status)
    .headers(appError.headers)
    .headers(wwwAuthenticate(request, appError))
    .type(PROBLEM_TYPE)
    .send(toProblem(appError, { instance, requestId: request.id }));
}

/** Fastify's `frameworkErrors`: a URL the router cannot decode, before any hook ran. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.headers(SECURITY_HEADERS).header('x-request-id', request.id);
  sendProblem(request, reply, toAppError(error));
}

function clientErrorOf(code: string | undefined): AppError {
  if (code === 'HPE_HEADER_OVERFLOW') return new AppError(Errors.HEADERS_TOO_LARGE);
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return new AppError(Errors.REQUEST_TIMEOUT);
  return new AppError(Errors.BAD_REQUEST);
}

/**
 * Fastify's `clientErrorHandler`: Node's parser refused the bytes, so there is no
 * request to reply through; write the problem straight to the socket, then close it
 * as Node's own handler does.
 */
export function clientErrorHandler(
  this: FastifyInstance,
  error: Error & { code?: string },
  socket: Socket,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  this.log.debug({ err: error }, 'client error');
  if (socket.writable) {
    const appError = clientErrorOf(error.code);
    const body = JSON.stringify(toProblem(appError, {}));
    const headers = {
      ...SECURITY_HEADERS,
      'content-type': PROBLEM_TYPE,
      'content-length': String(Buffer.byteLength(body)),
      connection: 'close',
    };
    const head = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.write(`HTTP/1.1 ${appError.status} ${STATUS_CODES[appError.status]}\r\n${head}\r\n${body}`);
  }
  socket.destroy(error);
}

async function errorHandling(app: FastifyInstance): Promise<void> {
  // A second router holding every route's method and path (catch-all `*` routes
  // such as CORS preflight excluded), asked only when the real one found nothing.
  const routes = FindMyWay();
  const methods = new Set<HTTPMethod>();
  app.addHook('onRoute', (route) => {
    if (route.url.includes('*')) return;
    for (const method of [route.method].flat() as HTTPMethod[]) {
      routes.on(method, route.url, () => {});
      methods.add(method);
    }
  });

  app.setErrorHandler((error, request, reply) => {
    const appError = toAppError(error);
    if (appError.status === 503) {
      request.log.warn({ code: appError.code, cause: (error as Error).message }, 'dependency unavailable');
    } else if (appError.status >= 500) {
      request.log.error({ err: error, code: appError.code }, 'request failed');
    }
    return sendProblem(request, reply, appError);
  });

  app.setNotFoundHandler((request) => {
    const path = request.url.split('?', 1)[0] ?? '/';
    const allowed = [...methods].filter((m) => routes.find(m, path) !== null);
    if (allowed.length === 0) throw new AppError(Errors.NOT_FOUND);
    throw new AppError(Errors.METHOD_NOT_ALLOWED, undefined, { headers: { allow: allowed.join(', ') } });
  });
}

export default fp(errorHandling, { name: 'error-handling' });
