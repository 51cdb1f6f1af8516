import type { FastifyRequest } from 'fastify';
import type { LoggerOptions } from 'pino';

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

function pathWithoutQueryValues(url: string): string {
  const [pathname, query] = url.split('?', 2);
  if (!query) return pathname ?? '';
  const keys = [...new URLSearchParams(query).keys()];
  return `${pathname}?${keys.map((key) => `${encodeURIComponent(key)}=[redacted]`).join('&')}`;
}

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    serializers: {
      req: (request: FastifyRequest) => ({
        method: request.method,
        url: pathWithoutQueryValues(request.url),
        route: request.routeOptions?.url,
        remoteAddress: request.ip,
      }),
      res: (reply: { statusCode: number }) => ({ statusCode: reply.statusCode }),
    },
  };
}
