/**
 * Maps everything thrown in a request to the error body of DESIGN §9, in one place. A database
 * that cannot answer is 503 ERR_UNAVAILABLE with `Retry-After`, never 500.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError, type ErrorCode, coerceError, unavailableRetryAfterSeconds } from '../errors.ts';
import { ajvDetails } from './validation.ts';

const fastifyCodes: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'ERR_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'ERR_JSON_MALFORMED',
  FST_ERR_CTP_INVALID_JSON_BODY: 'ERR_JSON_MALFORMED',
  FST_ERR_CTP_EMPTY_TYPE: 'ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_MAX_PARAM_LENGTH: 'ERR_URI_TOO_LONG',
  FST_ERR_BAD_URL: 'ERR_BAD_REQUEST',
  FST_ERR_ASYNC_CONSTRAINT: 'ERR_BAD_REQUEST',
};

/** The message of a failed schema validation, by what failed it. */
const validationMessages: Record<string, string> = {
  body: 'The request body is invalid.',
  querystring: 'The query string is invalid.',
  params: 'The path parameters are invalid.',
  headers: 'The request headers are invalid.',
};

/** Converts a thrown value into an AppError with the right code. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const fe = err as Partial<FastifyError> & { validationContext?: string };
  if (fe && Array.isArray(fe.validation)) {
    return new AppError('ERR_VALIDATION', {
      message: validationMessages[fe.validationContext ?? ''] ?? 'The request is invalid.',
      details: ajvDetails(fe.validation, fe.validationContext ?? 'body'),
    });
  }
  if (fe && typeof fe.code === 'string' && fastifyCodes[fe.code]) {
    return new AppError(fastifyCodes[fe.code]!, { message: fe.message ?? undefined });
  }
  if (err instanceof SyntaxError)
    return new AppError('ERR_JSON_MALFORMED', {
      message: `The body is not valid JSON: ${err.message}`,
    });
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const byStatus: Record<number, ErrorCode> = {
      404: 'ERR_NOT_FOUND',
      405: 'ERR_METHOD_NOT_ALLOWED',
      413: 'ERR_BODY_TOO_LARGE',
      414: 'ERR_URI_TOO_LONG',
      415: 'ERR_UNSUPPORTED_MEDIA_TYPE',
      429: 'ERR_RATE_LIMITED',
    };
    return new AppError(byStatus[fe.statusCode] ?? 'ERR_BAD_REQUEST', {
      message: fe.message ?? undefined,
    });
  }
  return coerceError(err);
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const appErr = toAppError(err);
    // An outage is not a bug: one warning line, and the client is told when to come back.
    if (appErr.code === 'ERR_UNAVAILABLE') {
      request.log.warn({ err: appErr.cause ?? err }, 'database unavailable');
      void reply.header('retry-after', String(unavailableRetryAfterSeconds));
    } else if (appErr.status >= 500) request.log.error({ err }, 'request failed');
    void reply.status(appErr.status).type('application/json; charset=utf-8').send(appErr.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    const e = new AppError('ERR_NOT_FOUND', {
      message: `No route ${request.method} ${request.url.split('?')[0]}.`,
    });
    void reply.status(404).send(e.toBody());
  });
}
