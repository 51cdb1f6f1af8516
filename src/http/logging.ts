import type { FastifyRequest } from 'fastify';
import type { LoggerOptions } from 'pino';
import { z } from 'zod';
import { driverCodeOf } from '../db/database-errors';
import { nameableKey } from './validation-messages';

/**
 * Logs never hold personal data: bodies are not logged, query values (an e-mail lookup, say) are
 * dropped, and any field that could carry a personal value is redacted wherever it appears.
 */
const personalFields = [
  'email',
  'name',
  'phone',
  'iban',
  'line1',
  'line2',
  'postalCode',
  'city',
  'customer',
  'comment',
  'address',
];

export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  ...personalFields.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
];

const uuid = z.uuid();

/**
 * The URL as a log may keep it: the route pattern with only UUID parameters filled in, and the query's
 * key names without values. A raw path can carry an e-mail (GET /v1/returns/jean@example.org), and a
 * path no route matched is not logged at all.
 */
function urlForLog(request: FastifyRequest): string {
  const pattern = request.routeOptions?.url;
  const params = (request.params ?? {}) as Record<string, unknown>;
  const path =
    pattern === undefined
      ? '[no route]'
      : pattern.replace(/:([A-Za-z0-9_]+)/g, (placeholder, name: string) => {
          const value = params[name];
          return uuid.safeParse(value).success ? String(value) : placeholder;
        });
  const query = request.url.split('?', 2)[1];
  if (!query) return path;
  const keys = [...new URLSearchParams(query).keys()].map((key) =>
    nameableKey.test(key) ? key : '[unknown]',
  );
  return `${path}?${keys.map((key) => `${key}=[redacted]`).join('&')}`;
}

/**
 * What a log keeps of an error: its type, its driver or SQLSTATE code and its stack frames, never its
 * message. A drizzle message ends with every bound parameter, a PostgreSQL one can quote the value
 * it refused, and V8's JSON.parse quotes the text it could not parse: any of them personal data.
 */
function errorForLog(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error };
  const causes: string[] = [];
  let cause: unknown = error.cause;
  while (cause instanceof Error && causes.length < 4) {
    causes.push(cause.constructor.name);
    cause = cause.cause;
  }
  const code = driverCodeOf(error);
  return {
    type: error.constructor.name,
    ...(code === undefined ? {} : { code }),
    ...(causes.length > 0 ? { causes } : {}),
    stack: (error.stack ?? '')
      .split('\n')
      .filter((line) => /^\s+at /.test(line))
      .join('\n'),
  };
}

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    serializers: {
      req: (request: FastifyRequest) => ({
        method: request.method,
        url: urlForLog(request),
        route: request.routeOptions?.url,
        remoteAddress: request.ip,
      }),
      res: (reply: { statusCode: number }) => ({ statusCode: reply.statusCode }),
      err: errorForLog,
    },
  };
}
