import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { DecryptionError } from '../crypto/decryption-errors';
import { translateDatabaseError } from '../db/database-errors';
import { AppError, isAppError, type ValidationIssue } from './app-error';
import { type ErrorCode, errorCodes } from './error-codes';
import { buildProblem, problemContentType } from './problem';

/** Fastify's own client errors, by code. Their messages are not forwarded: some quote the input. */
const fastifyErrors: Record<string, [ErrorCode, string]> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['unsupported_media_type', 'Send the body as application/json.'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [
    'validation_failed',
    'The Content-Length header does not match the body.',
  ],
  FST_ERR_CTP_BODY_TOO_LARGE: ['payload_too_large', 'The request body is larger than the limit.'],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['malformed_body', 'The body is empty but the content type is JSON.'],
  FST_ERR_CTP_INVALID_JSON_BODY: ['malformed_body', 'The body is not valid JSON.'],
  FST_ERR_CTP_EMPTY_TYPE: ['unsupported_media_type', 'The Content-Type header is empty.'],
  FST_ERR_CTP_INVALID_TYPE: ['unsupported_media_type', 'The Content-Type header is not valid.'],
  FST_ERR_BAD_URL: ['not_found', 'The URL is not valid.'],
  FST_ERR_MAX_PARAM_LENGTH: ['uri_too_long', 'A path parameter is longer than the limit.'],
  FST_ERR_ASYNC_CONSTRAINT: ['validation_failed', 'The request cannot be routed.'],
};

function pathOf(context: string | undefined, instancePath: string): string {
  const segments = instancePath.split('/').filter(Boolean);
  const prefix = context === 'querystring' ? 'query' : (context ?? 'body');
  return [prefix, ...segments].join('.');
}

function validationIssues(error: FastifyError): ValidationIssue[] {
  if (hasZodFastifySchemaValidationErrors(error)) {
    return error.validation.map((issue) => ({
      path: pathOf(error.validationContext, issue.instancePath),
      message: issue.message ?? 'is not valid',
    }));
  }
  return (error.validation ?? []).map((issue) => ({
    path: pathOf(error.validationContext, issue.instancePath),
    message: issue.message ?? 'is not valid',
  }));
}

export function sendProblem(
  reply: FastifyReply,
  error: AppError,
  requestId: string,
  issues?: ValidationIssue[],
) {
  if (error.status === 401) reply.header('www-authenticate', 'Bearer');
  return reply
    .code(error.status)
    .type(problemContentType)
    .send(
      buildProblem(error.code, error.detail, { requestId, errors: issues, extensions: error.extensions }),
    );
}

function toAppError(error: FastifyError): { appError: AppError; issues?: ValidationIssue[] } {
  if (isAppError(error)) return { appError: error };
  if (error.validation) {
    const issues = validationIssues(error);
    return {
      appError: new AppError('validation_failed', `${issues.length} field(s) are not valid.`),
      issues,
    };
  }
  const known = error.code ? fastifyErrors[error.code] : undefined;
  if (known) return { appError: new AppError(known[0], known[1]) };
  if (error instanceof SyntaxError && error.statusCode === 400) {
    return { appError: new AppError('malformed_body', 'The body is not valid JSON.') };
  }
  const fromDatabase = translateDatabaseError(error);
  if (fromDatabase) return { appError: fromDatabase };
  const failure: unknown = error;
  if (failure instanceof DecryptionError) return { appError: decryptionProblem(failure) };
  const status = error.statusCode ?? 500;
  if (status === 429) return { appError: new AppError('rate_limited', 'Slow down and retry later.') };
  if (status === 413)
    return { appError: new AppError('payload_too_large', 'The request body is larger than the limit.') };
  if (status === 415)
    return { appError: new AppError('unsupported_media_type', 'Unsupported content type.') };
  if (status === 404) return { appError: new AppError('not_found', 'Not found.') };
  if (status >= 400 && status < 500)
    return { appError: new AppError('validation_failed', 'The request is not valid.') };
  return { appError: new AppError('internal_error', 'An unexpected error occurred; it has been logged.') };
}

/**
 * A value that would not decrypt: the operator must act, and the answer says which way. A data key
 * wrapped by a master key version missing from MASTER_KEYS waits for that key (503); an altered, moved
 * or unreadable ciphertext is an integrity failure (500). Only the reason is sent, never a value.
 */
function decryptionProblem(error: DecryptionError): AppError {
  if (error.reason === 'key_version_unavailable') {
    return new AppError(
      'key_unavailable',
      'A data key is wrapped by a master key version that MASTER_KEYS does not hold.',
    );
  }
  return new AppError(
    'data_integrity_failure',
    'A stored value failed its integrity check and was not read.',
    {
      reason: error.reason,
    },
  );
}

/** Errors the router raises before any route runs (bad URL encoding, over-long parameters). */
export function handleFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  return sendProblem(reply, toAppError(error).appError, request.id);
}

/** Node's parser errors, which arrive before any request object exists. */
function clientProblem(code: string | undefined): [ErrorCode, string] {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return ['request_timeout', 'The request was not received in time.'];
  if (code === 'HPE_HEADER_OVERFLOW')
    return ['headers_too_large', 'The request headers are larger than the limit.'];
  return ['malformed_request', 'The request is not valid HTTP.'];
}

/**
 * Fastify's `clientErrorHandler`: a request Node could not parse still gets problem+json. The error
 * is not logged whole: its `rawPacket` holds the bytes received, headers and body included.
 */
export function handleClientError(this: FastifyInstance, error: Error & { code?: string }, socket: Socket) {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [code, detail] = clientProblem(error.code);
  this.log.debug({ clientError: error.code }, 'client error');
  // Bytes written after a response has begun would corrupt it: then the connection is only closed.
  const current = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || current?.headersSent) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(buildProblem(code, detail));
  const { status } = errorCodes[code];
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${problemContentType}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    // Flushed, then closed both ways: a half-open socket would wait for a client that may never end.
    () => socket.destroy(),
  );
}

/** The one error handler: every error becomes RFC 9457 problem+json; 5xx details go to the log only. */
export function registerErrorHandling(app: FastifyInstance) {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const { appError, issues } = toAppError(error);
    if (appError.status >= 500) {
      // The logger's err serializer (logging.ts) keeps the type, code and frames, never the message.
      request.log.error({ err: error, problem: appError.code }, 'request failed');
    }
    return sendProblem(reply, appError, request.id, issues);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      new AppError('not_found', `No route answers ${request.method} on this path.`),
      request.id,
    ),
  );
}
